"""Block and record every network look-up or connection to a non-loopback address.

Used by the offline tests: installed before anything imports Ultralytics, it makes any
attempt to resolve a host name or open a connection off this machine fail, and records it.
"""

from __future__ import annotations

import socket
from typing import Any

ATTEMPTS: list[str] = []
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")


def _is_local(host: Any) -> bool:
    if host is None or host == "" or host == b"":
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    return str(host).startswith(_LOCAL)


def install() -> None:
    """Replace the socket module's resolving and connecting functions with guarded ones."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local(host):
            ATTEMPTS.append(f"getaddrinfo {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"network blocked in test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        if not _is_local(host):
            ATTEMPTS.append(f"gethostbyname {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"network blocked in test: {host}")
        return "127.0.0.1"

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _is_local(host):
                ATTEMPTS.append(f"connect {address}")
                raise OSError(f"network blocked in test: {address}")

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname

    def gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
        if not _is_local(host):
            ATTEMPTS.append(f"gethostbyname_ex {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"network blocked in test: {host}")
        return host, [], ["127.0.0.1"]

    socket.gethostbyname_ex = gethostbyname_ex
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
