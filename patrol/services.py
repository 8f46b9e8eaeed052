"""Finding or starting the services a run needs: the MQTT broker, free ports.

`patrol demo` must work with nothing configured: it uses the configured broker when it answers,
otherwise starts a private broker of its own — a Mosquitto process on a free port when the
`mosquitto` binary is installed, else an in-process broker (amqtt, MQTT 3.1.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


class ServiceError(ValueError):
    """A service could not be reached or started; the message says what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mqtt_broker_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when an MQTT broker accepts an anonymous MQTT 3.1.1 CONNECT on host:port."""
    # CONNECT, protocol "MQTT" level 4, clean session, keep-alive 10 s, client id "fp-probe".
    client_id = b"fp-probe"
    variable = b"\x00\x04MQTT\x04\x02\x00\x0a"
    payload = len(client_id).to_bytes(2, "big") + client_id
    remaining = len(variable) + len(payload)
    packet = bytes([0x10, remaining]) + variable + payload
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(packet)
            reply = sock.recv(4)
            sock.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError:
        return False
    return len(reply) == 4 and reply[0] == 0x20 and reply[3] == 0


@dataclass
class BrokerHandle:
    """A broker the run can use; `stop()` stops it if this run started it."""

    host: str
    port: int
    kind: str  # "configured", "mosquitto" or "embedded"
    mqtt_version: int = 5
    _stop: list = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        while self._stop:
            self._stop.pop()()


def _start_mosquitto(binary: str, workdir: Path) -> BrokerHandle:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {workdir}/\n" + ("user root\n" if os.geteuid() == 0 else ""),
        # Started as root, Mosquitto switches to the `mosquitto` user, which cannot write
        # its save file into our directory: sessions would not survive a restart.
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(
                f"the private Mosquitto broker exited at start (code {proc.returncode})"
            )
        if mqtt_broker_answers("127.0.0.1", port, timeout=0.5):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        proc.wait(timeout=5)
        raise ServiceError("the private Mosquitto broker did not answer within 10 s")

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    return BrokerHandle("127.0.0.1", port, "mosquitto", 5, [stop])


def _start_embedded() -> BrokerHandle:
    from amqtt.broker import Broker

    port = free_port()
    loop = asyncio.new_event_loop()
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "sys_interval": 0,
        "auth": {"allow-anonymous": True},
    }
    broker = Broker(config, loop=loop)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(broker.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="embedded-mqtt-broker", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise ServiceError("the embedded MQTT broker did not start within 10 s")

    def stop() -> None:
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        with contextlib.suppress(Exception):
            future.result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)

    return BrokerHandle("127.0.0.1", port, "embedded", 4, [stop])


def ensure_broker(host: str, port: int, *, allow_private: bool = True) -> BrokerHandle:
    """Use the broker at host:port if it answers; otherwise start a private one.

    A private broker is a Mosquitto process when the binary is installed (full MQTT 5), else
    an in-process amqtt broker (MQTT 3.1.1).
    """
    if mqtt_broker_answers(host, port):
        return BrokerHandle(host, port, "configured", 5)
    if not allow_private:
        raise ServiceError(
            f"no MQTT broker answers at mqtt://{host}:{port}; start Mosquitto "
            "(mosquitto -d) or set FIELDPATROL_MQTT_URL to a reachable broker"
        )
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary:
        workdir = Path(tempfile.mkdtemp(prefix="fieldpatrol-mosquitto-"))
        handle = _start_mosquitto(binary, workdir)
        handle._stop.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
        return handle
    return _start_embedded()
