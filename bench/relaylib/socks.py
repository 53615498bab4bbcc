"""The SOCKS5 client side: a sans-I/O codec, the blocking exchange, and the targets under test."""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from .net import Endpoint, recv_exactly

GREETING = b"\x05\x01\x00"
CMD_CONNECT = 1
CMD_BIND = 2
REPLY_REST = {1: 4 - 1 + 2, 4: 16 - 1 + 2}


class SocksError(Exception):
    """The server answered with a failure code or with something that is not SOCKS5."""


@dataclass(frozen=True)
class Target:
    """A SOCKS5 server under test, or the direct path when ``endpoint`` is None."""

    name: str
    endpoint: Endpoint | None


# --- sans-I/O ----------------------------------------------------------------------------------


def encode_request(command: int, endpoint: Endpoint) -> bytes:
    """A SOCKS5 request (RFC 1928 section 4) for an IPv4 or IPv6 literal."""
    address = ipaddress.ip_address(endpoint[0])
    kind = 1 if address.version == 4 else 4
    return bytes((5, command, 0, kind)) + address.packed + struct.pack("!H", endpoint[1])


def check_method(reply: bytes) -> None:
    """Accept only "version 5, no authentication" as the method selection."""
    if reply != b"\x05\x00":
        raise SocksError(f"method selection {reply.hex()}")


def reply_rest_length(head: bytes) -> int:
    """How many bytes follow the first five of a reply (RFC 1928 section 6)."""
    version, code, _, kind, first = head
    if version != 5:
        raise SocksError(f"version {version} in reply")
    if code != 0:
        raise SocksError(f"reply 0x{code:02x}")
    if kind == 3:
        return first + 2
    if kind not in REPLY_REST:
        raise SocksError(f"address type {kind} in reply")
    return REPLY_REST[kind]


def decode_endpoint(head: bytes, rest: bytes) -> Endpoint:
    """BND.ADDR and BND.PORT of a successful reply."""
    (port,) = struct.unpack("!H", rest[-2:])
    body = head[4:] + rest[:-2]
    if head[3] == 3:
        return body[1:].decode("ascii", "replace"), port
    return str(ipaddress.ip_address(body)), port


# --- blocking I/O ------------------------------------------------------------------------------


def read_reply(sock: socket.socket) -> Endpoint:
    """Read one SOCKS5 reply from a blocking socket."""
    head = recv_exactly(sock, 5)
    return decode_endpoint(head, recv_exactly(sock, reply_rest_length(head)))


def socks_request(sock: socket.socket, command: int, endpoint: Endpoint) -> Endpoint:
    """Greeting, request and first reply on a blocking socket; returns BND."""
    sock.sendall(GREETING)
    check_method(recv_exactly(sock, 2))
    sock.sendall(encode_request(command, endpoint))
    return read_reply(sock)


def open_stream(target: Target, dest: Endpoint, timeout: float) -> socket.socket:
    """A blocking connection to ``dest``, through the target's CONNECT unless direct."""
    sock = socket.create_connection(target.endpoint or dest, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if target.endpoint is not None:
        try:
            socks_request(sock, CMD_CONNECT, dest)
        except BaseException:
            sock.close()
            raise
    return sock
