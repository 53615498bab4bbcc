"""Loopback socket helpers shared by the client side and the origin, and failure texts."""

from __future__ import annotations

import ipaddress
import socket

Endpoint = tuple[str, int]


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes or raise ConnectionError."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return bytes(data)


def family_of(host: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6 for an address literal."""
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def listener(host: str, port: int = 0) -> socket.socket:
    """A TCP socket listening on ``host`` and ``port`` (0: chosen by the kernel)."""
    sock = socket.socket(family_of(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    return sock


def describe(exc: BaseException) -> str:
    """A short, stable text for counting failures by reason."""
    if isinstance(exc, TimeoutError):
        return "time-out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
