"""Sockets of the simulator: a TCP server (any number of ground stations) or a UDP sender.

TCP works as ArduPilot SITL's `tcp:127.0.0.1:5760`: the simulator listens and every connected
client gets every message. UDP works as ArduPilot's `--out udp:HOST:PORT`: the simulator sends to
a port where the ground station listens (`udpin:HOST:PORT` for pymavlink) and answers whoever
writes back. Sockets are non-blocking; a client that stops reading is dropped rather than
allowed to stall the simulation.
"""

from __future__ import annotations

import contextlib
import select
import socket
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle.errors import SimulatorError

MAX_BACKLOG = 4 * 1024 * 1024


def _parser() -> mavlink2.MAVLink:
    parser = mavlink2.MAVLink(None)
    parser.robust_parsing = True
    return parser


@dataclass
class _Client:
    sock: socket.socket
    parser: mavlink2.MAVLink = field(default_factory=_parser)
    out: bytearray = field(default_factory=bytearray)


class Transport:
    """Common interface of the two transports."""

    url: str
    port: int
    #: Connections accepted since the server last looked (it greets them with a status burst).
    accepted: int = 0

    def poll(self, timeout: float) -> list[mavlink2.MAVLink_message]:
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @property
    def client_count(self) -> int:
        raise NotImplementedError


class TcpServerTransport(Transport):
    def __init__(self, host: str, port: int) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((host, port))
        except OSError as exc:
            self._listener.close()
            raise SimulatorError(
                f"port {port} on {host} is not free ({exc.strerror}); pass another --port or 0"
            ) from exc
        self._listener.listen(8)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self.url = f"tcp:{host}:{self.port}"
        self._clients: list[_Client] = []

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def poll(self, timeout: float) -> list[mavlink2.MAVLink_message]:
        socks = [self._listener] + [c.sock for c in self._clients]
        writers = [c.sock for c in self._clients if c.out]
        try:
            readable, writable, _ = select.select(socks, writers, [], max(0.0, timeout))
        except (OSError, ValueError):
            self._drop_dead()
            return []
        msgs: list[mavlink2.MAVLink_message] = []
        if self._listener in readable:
            with contextlib.suppress(OSError):
                sock, _addr = self._listener.accept()
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._clients.append(_Client(sock))
                self.accepted += 1
        for client in list(self._clients):
            if client.sock in readable:
                try:
                    data = client.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    self._drop(client)
                    continue
                if data:
                    msgs.extend(client.parser.parse_buffer(data) or [])
            if client.sock in writable:
                self._flush(client)
        return msgs

    def send(self, data: bytes) -> None:
        for client in list(self._clients):
            client.out += data
            self._flush(client)

    def _flush(self, client: _Client) -> None:
        if not client.out:
            return
        try:
            sent = client.sock.send(client.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(client)
            return
        del client.out[:sent]
        if len(client.out) > MAX_BACKLOG:
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        if client in self._clients:
            self._clients.remove(client)
        with contextlib.suppress(OSError):
            client.sock.close()

    def _drop_dead(self) -> None:
        for client in list(self._clients):
            if client.sock.fileno() < 0:
                self._drop(client)

    def close(self) -> None:
        for client in list(self._clients):
            self._drop(client)
        with contextlib.suppress(OSError):
            self._listener.close()


class UdpTransport(Transport):
    def __init__(self, host: str, port: int) -> None:
        if port == 0:
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind((host, 0))
            port = probe.getsockname()[1]
            probe.close()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.setblocking(False)
        self._peers: list[tuple[str, int]] = [(host, port)]
        self.port = port
        self.url = f"udpin:{host}:{port}"
        self._parser = _parser()

    @property
    def client_count(self) -> int:
        return len(self._peers)

    def poll(self, timeout: float) -> list[mavlink2.MAVLink_message]:
        try:
            readable, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return []
        msgs: list[mavlink2.MAVLink_message] = []
        while readable:
            try:
                data, addr = self._sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError, ConnectionRefusedError):
                break
            except OSError:
                break
            if addr not in self._peers:
                self._peers.append(addr)
            msgs.extend(self._parser.parse_buffer(data) or [])
        return msgs

    def send(self, data: bytes) -> None:
        for peer in self._peers:
            # Keep datagrams under a typical MTU by sending message by message is not needed:
            # callers pass one message's bytes at a time.
            with contextlib.suppress(OSError):
                self._sock.sendto(data, peer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


def open_transport(kind: str, host: str, port: int) -> Transport:
    if kind == "tcp":
        return TcpServerTransport(host, port)
    if kind == "udp":
        return UdpTransport(host, port)
    raise SimulatorError(f"transport {kind!r} is not supported; use 'tcp' or 'udp'")
