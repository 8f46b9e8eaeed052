"""A TCP relay in front of a MAVLink port that can cut the link on demand (a radio dropping out).

ArduPilot SITL's serial port takes one TCP client; the relay listens on its own port, and for
each client that connects opens a connection to the upstream port and pumps bytes both ways in
one thread. While the link is cut, bytes from both sides are read and thrown away, as a radio
link loses them. `stop()` closes everything and joins the thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class TcpRelay:
    """Relay `127.0.0.1:<port>` → `upstream_host:upstream_port`, one client at a time."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(4)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"tcp:127.0.0.1:{self.port}"
        self._cut_until = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"relay-{self.port}")
        self.bytes_dropped = 0

    def start(self) -> str:
        self._thread.start()
        return self.url

    def cut(self, seconds: float | None = None) -> None:
        """Drop everything both ways for `seconds` of wall-clock time (None: until restored)."""
        self._cut_until = float("inf") if seconds is None else time.monotonic() + seconds

    def restore(self) -> None:
        self._cut_until = 0.0

    @property
    def is_cut(self) -> bool:
        return time.monotonic() < self._cut_until

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()

    def _run(self) -> None:
        client: socket.socket | None = None
        upstream: socket.socket | None = None
        try:
            while not self._stop.is_set():
                socks = [self._listener] + [s for s in (client, upstream) if s is not None]
                readable, _, _ = select.select(socks, [], [], 0.1)
                if self._listener in readable:
                    new, _addr = self._listener.accept()
                    try:
                        up = socket.create_connection(self.upstream, timeout=5)
                    except OSError:
                        new.close()
                        continue
                    for s in (client, upstream):
                        if s is not None:
                            s.close()
                    client, upstream = new, up
                    continue
                for src, dst in ((client, upstream), (upstream, client)):
                    if src is None or dst is None or src not in readable:
                        continue
                    try:
                        data = src.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        for s in (client, upstream):
                            if s is not None:
                                s.close()
                        client = upstream = None
                        break
                    if self.is_cut:
                        self.bytes_dropped += len(data)
                        continue
                    with contextlib.suppress(OSError):
                        dst.sendall(data)
        finally:
            for s in (client, upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
