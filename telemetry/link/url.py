"""Connection URLs of the link: ``tcp:host:port``, ``udp:host:port``, ``udpin:addr:port``,
``serial:/dev/ttyUSB0:57600``.

``udp:`` sends to the vehicle (we are the client, as with ``tcp:``); ``udpin:`` listens for a
vehicle that sends to us (ArduPilot's default ``--out`` to port 14550). MAVSDK-style
``tcp://host:port`` and ``udp://host:port`` are accepted too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LinkConfigError

_SCHEMES = ("tcp", "udp", "udpin", "udpout", "serial")


@dataclass(frozen=True)
class LinkUrl:
    """A parsed connection URL."""

    scheme: str
    host: str
    port: int
    device: str = ""
    baud: int = 57600

    @property
    def mavutil_device(self) -> str:
        """The device string pymavlink's ``mavlink_connection`` expects."""
        if self.scheme == "tcp":
            return f"tcp:{self.host}:{self.port}"
        if self.scheme in ("udp", "udpout"):
            return f"udpout:{self.host}:{self.port}"
        if self.scheme == "udpin":
            return f"udpin:{self.host}:{self.port}"
        return self.device

    @property
    def reconnectable(self) -> bool:
        """Whether a dropped transport must be re-opened (stream sockets and serial)."""
        return self.scheme in ("tcp", "serial")

    def __str__(self) -> str:
        if self.scheme == "serial":
            return f"serial:{self.device}:{self.baud}"
        return f"{self.scheme}:{self.host}:{self.port}"


def parse_url(url: str) -> LinkUrl:
    """Parse a connection URL; raise ``LinkConfigError`` naming what is wrong."""
    text = url.strip()
    scheme, sep, rest = text.partition(":")
    if not sep or scheme not in _SCHEMES:
        raise LinkConfigError(
            f"connect: URL {url!r} has no known scheme; use tcp:HOST:PORT, udp:HOST:PORT, "
            "udpin:ADDR:PORT or serial:DEVICE:BAUD"
        )
    rest = rest.removeprefix("//")
    if scheme == "serial":
        device, _, baud = rest.rpartition(":")
        if not device:
            device, baud = rest, "57600"
        if not baud.isdigit():
            raise LinkConfigError(f"connect: baud rate {baud!r} in {url!r} is not a number")
        return LinkUrl("serial", "", 0, device=device, baud=int(baud))
    host, _, port = rest.rpartition(":")
    if not port.isdigit() or not (0 < int(port) < 65536):
        raise LinkConfigError(f"connect: port {port!r} in {url!r} is not a port number (1-65535)")
    if not host:
        host = "0.0.0.0" if scheme == "udpin" else "127.0.0.1"
    return LinkUrl(scheme, host, int(port))
