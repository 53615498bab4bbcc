"""A small blocking SOCKS5 client written from RFC 1928/1929, for what python-socks cannot do.

python-socks speaks CONNECT only; these tests also need BIND (two replies)
and UDP ASSOCIATE (the datagram header), and byte-level control. The client
is written against the RFCs, not against fwx's codec, so a codec bug cannot
hide itself. Every socket has a time-out: a test never hangs.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

__all__ = [
    "BIND",
    "CONNECT",
    "TIMEOUT",
    "UDP_ASSOCIATE",
    "Reply",
    "SocksClient",
    "pack_address",
    "read_exact",
    "udp_packet",
    "udp_unpack",
]

CONNECT, BIND, UDP_ASSOCIATE = 1, 2, 3
TIMEOUT = 5.0


@dataclass(frozen=True)
class Reply:
    """A reply: ``REP`` and ``BND.ADDR:BND.PORT``."""

    code: int
    host: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port


def read_exact(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes; EOFError if the peer closes first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def pack_address(host: str, port: int) -> bytes:
    """``ATYP ADDR PORT`` for an IPv4/IPv6 address or a domain name."""
    for family, kind in ((socket.AF_INET, 1), (socket.AF_INET6, 4)):
        try:
            return bytes((kind,)) + socket.inet_pton(family, host) + struct.pack("!H", port)
        except OSError:
            continue
    name = host.encode()
    return bytes((3, len(name))) + name + struct.pack("!H", port)


def _read_address(sock: socket.socket) -> tuple[str, int]:
    kind = read_exact(sock, 1)[0]
    if kind == 1:
        host = socket.inet_ntop(socket.AF_INET, read_exact(sock, 4))
    elif kind == 4:
        host = socket.inet_ntop(socket.AF_INET6, read_exact(sock, 16))
    else:
        host = read_exact(sock, read_exact(sock, 1)[0]).decode()
    return host, struct.unpack("!H", read_exact(sock, 2))[0]


def udp_packet(host: str, port: int, payload: bytes, frag: int = 0) -> bytes:
    """A client datagram for the relay: ``RSV RSV FRAG`` + address + payload (RFC 1928 §7)."""
    return b"\x00\x00" + bytes((frag,)) + pack_address(host, port) + payload


def udp_unpack(data: bytes) -> tuple[str, int, bytes]:
    """(remote host, remote port, payload) of a datagram the relay sent (IPv4 only)."""
    assert data[:3] == b"\x00\x00\x00", data[:3]
    assert data[3] == 1, data[3]
    host = socket.inet_ntop(socket.AF_INET, data[4:8])
    return host, struct.unpack("!H", data[8:10])[0], data[10:]


class SocksClient:
    """One control connection to a SOCKS5 server."""

    def __init__(self, proxy: tuple[str, int], *, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(proxy, timeout=TIMEOUT, source_address=(source, 0))

    def __enter__(self) -> SocksClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def greet(self, methods: bytes = b"\x00") -> int:
        """Send the greeting; the method the server chose."""
        self.sock.sendall(bytes((5, len(methods))) + methods)
        version, method = read_exact(self.sock, 2)
        assert version == 5
        return method

    def login(self, username: str, password: str) -> int:
        """RFC 1929 sub-negotiation; the STATUS byte (0 = success)."""
        user, word = username.encode(), password.encode()
        self.sock.sendall(bytes((1, len(user))) + user + bytes((len(word),)) + word)
        version, status = read_exact(self.sock, 2)
        assert version == 1
        return status

    def request(self, command: int, host: str, port: int) -> Reply:
        """Send a request; its (first) reply."""
        self.sock.sendall(bytes((5, command, 0)) + pack_address(host, port))
        return self.read_reply()

    def read_reply(self) -> Reply:
        version, code, reserved = read_exact(self.sock, 3)
        assert (version, reserved) == (5, 0)
        return Reply(code, *_read_address(self.sock))

    def quiet(self) -> bool:
        """True when nothing has arrived and the connection is still open (never waits)."""
        self.sock.setblocking(False)
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(TIMEOUT)
        return False

    def until_closed(self) -> bytes:
        """What the server sends until it closes (EOF or reset); a time-out if it never does."""
        data = b""
        try:
            while chunk := self.sock.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        return data
