"""SOCKS5 wire values and messages (RFC 1928, RFC 1929), as pure functions of bytes.

The enums carry the values that go on the wire. The events are the frozen
values the server-side codec yields. Each ``parse_*`` function reads one
message from the front of a buffer and returns it with the number of bytes it
took, or ``None`` while the message is incomplete; it checks every field as
soon as the field has arrived, so garbage is refused early and no message ever
needs more than its format's maximum size (``MAX_GREETING``, ``MAX_CREDENTIALS``,
``MAX_REQUEST``). Malformed input raises ``ProtocolError`` naming the reply a
server should send before it closes.
"""

from __future__ import annotations

import enum
import socket
import struct
from dataclasses import dataclass, field
from typing import Final, TypeAlias

__all__ = [
    "AUTH_FAILURE",
    "AUTH_SUCCESS",
    "MAX_CREDENTIALS",
    "MAX_GREETING",
    "MAX_REQUEST",
    "NEED_DATA",
    "ZERO_ADDRESS",
    "AddressType",
    "AuthMethod",
    "Buffer",
    "Command",
    "Credentials",
    "Event",
    "Greeting",
    "NeedData",
    "ProtocolError",
    "Reply",
    "Request",
    "SocksAddress",
    "pack_method",
    "pack_reply",
    "parse_address",
    "parse_credentials",
    "parse_greeting",
    "parse_request",
]

SOCKS_VERSION: Final = 0x05
AUTH_VERSION: Final = 0x01

MAX_GREETING: Final = 2 + 255
"""VER, NMETHODS and up to 255 methods."""
MAX_CREDENTIALS: Final = 3 + 255 + 255
"""VER, ULEN, UNAME, PLEN, PASSWD with both fields at their 255-byte maximum."""
MAX_REQUEST: Final = 4 + 1 + 255 + 2
"""VER, CMD, RSV, ATYP, then the longest address: a 255-byte domain name and a port."""

AUTH_SUCCESS: Final = bytes((AUTH_VERSION, 0x00))
AUTH_FAILURE: Final = bytes((AUTH_VERSION, 0x01))

Buffer: TypeAlias = bytes | bytearray | memoryview
_PORT = struct.Struct("!H")


class AuthMethod(enum.IntEnum):
    """Authentication methods the server can choose (RFC 1928 §3)."""

    NO_AUTH = 0x00
    USERNAME_PASSWORD = 0x02
    NO_ACCEPTABLE = 0xFF


class Command(enum.IntEnum):
    """The ``CMD`` of a request (RFC 1928 §4)."""

    CONNECT = 0x01
    BIND = 0x02
    UDP_ASSOCIATE = 0x03


class AddressType(enum.IntEnum):
    """The ``ATYP`` of an address (RFC 1928 §5)."""

    IPV4 = 0x01
    DOMAIN = 0x03
    IPV6 = 0x04


class Reply(enum.IntEnum):
    """The ``REP`` of a reply (RFC 1928 §6)."""

    SUCCEEDED = 0x00
    GENERAL_FAILURE = 0x01
    NOT_ALLOWED_BY_RULESET = 0x02
    NETWORK_UNREACHABLE = 0x03
    HOST_UNREACHABLE = 0x04
    CONNECTION_REFUSED = 0x05
    TTL_EXPIRED = 0x06
    COMMAND_NOT_SUPPORTED = 0x07
    ADDRESS_TYPE_NOT_SUPPORTED = 0x08


class ProtocolError(Exception):
    """The peer sent something malformed; the connection (or datagram) is done.

    ``reply`` is the SOCKS5 reply code the server answers with before closing,
    or ``None`` when it must close without a SOCKS5 reply (wrong version, or a
    phase that has no reply code). ``data_to_send`` holds the exact bytes to
    write before closing; the connection fills it in for its phase (a reply, a
    method refusal ``05 FF`` or an RFC 1929 failure ``01 01``); it stays empty
    for datagrams, which are dropped silently.
    """

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply
        self.data_to_send = b""


_FAMILIES: Final = {AddressType.IPV4: socket.AF_INET, AddressType.IPV6: socket.AF_INET6}
_TYPES: Final = {kind.value: kind for kind in AddressType}


@dataclass(frozen=True, slots=True)
class SocksAddress:
    """A SOCKS5 address: IP text (canonical, as ``from_ip`` writes it) or a domain name.

    Addresses read from the wire and made by ``from_ip`` are canonical, so two
    equal addresses compare equal. ``pack`` refuses a host that does not fit
    its type.
    """

    host: str
    port: int
    type: AddressType

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 0xFFFF:
            raise ValueError(f"port {self.port} is outside 0-65535")

    @classmethod
    def from_ip(cls, ip: str, port: int) -> SocksAddress:
        """The address of an IP given as text, e.g. from ``getpeername()``.

        The text is made canonical and an IPv6 scope (``%eth0``), which SOCKS5
        cannot carry, is dropped. Raises ``ValueError`` for anything else.
        """
        text = ip.partition("%")[0]
        kind = AddressType.IPV6 if ":" in text else AddressType.IPV4
        family = _FAMILIES[kind]
        try:
            packed = socket.inet_pton(family, text)
        except (OSError, ValueError):
            raise ValueError(f"{ip!r} is not an IP address") from None
        return cls(socket.inet_ntop(family, packed), port, kind)

    @property
    def is_unspecified(self) -> bool:
        """True for ``0.0.0.0`` and ``::`` (a BIND hint or UDP source the client does not know)."""
        return self.type is not AddressType.DOMAIN and self.host in ("0.0.0.0", "::")

    def pack(self) -> bytes:
        """``ATYP``, ``ADDR`` and ``PORT`` as they go on the wire."""
        port = _PORT.pack(self.port)
        if self.type is AddressType.DOMAIN:
            name = self.host.encode()
            if not 0 < len(name) <= 255:
                raise ValueError(f"domain name of {len(name)} bytes is outside 1-255")
            return bytes((self.type, len(name))) + name + port
        try:
            packed = socket.inet_pton(_FAMILIES[self.type], self.host)
        except (OSError, ValueError):
            raise ValueError(f"{self.host!r} is not an {self.type.name} address") from None
        return bytes((self.type,)) + packed + port


ZERO_ADDRESS: Final = SocksAddress("0.0.0.0", 0, AddressType.IPV4)
"""``0.0.0.0:0``, the address of a reply that has none to give."""


@dataclass(frozen=True, slots=True)
class Greeting:
    """The client's version identifier/method selection message.

    ``methods`` holds every method byte offered, known or not; an empty set
    (``NMETHODS`` 0) is passed on, and the server answers ``NO_ACCEPTABLE``.
    """

    methods: frozenset[int]


@dataclass(frozen=True, slots=True)
class Credentials:
    """An RFC 1929 username/password request.

    Both fields are decoded as UTF-8 with ``surrogateescape``: valid UTF-8
    (every real client) reads as plain text that compares with the rule file's
    user names, and any other byte survives; ``username_bytes`` and
    ``password_bytes`` give the exact bytes back for hashing. Log the user name
    with ``repr`` or ``errors="backslashreplace"``. The password stays out of
    ``repr``.
    """

    username: str
    password: str = field(repr=False)

    @property
    def username_bytes(self) -> bytes:
        """The user name exactly as sent."""
        return self.username.encode("utf-8", "surrogateescape")

    @property
    def password_bytes(self) -> bytes:
        """The password exactly as sent."""
        return self.password.encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Request:
    """A CONNECT, BIND or UDP ASSOCIATE request and its ``DST`` address.

    For BIND the address is a hint (clients send ``0.0.0.0:0`` or their own
    address with port 0); for UDP ASSOCIATE it is where the client will send
    from, possibly all zeros.
    """

    command: Command
    address: SocksAddress


class NeedData(enum.Enum):
    """The type of ``NEED_DATA``: no complete message is buffered yet."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA

Event: TypeAlias = Greeting | Credentials | Request


def parse_address(data: Buffer, offset: int) -> tuple[SocksAddress, int] | None:
    """Read ``ATYP ADDR PORT`` at ``offset``: the address and the offset past it.

    Returns ``None`` while incomplete. An unknown ``ATYP`` is answered with
    ``ADDRESS_TYPE_NOT_SUPPORTED``; an empty, non-UTF-8 or NUL-carrying domain
    name with ``GENERAL_FAILURE``.
    """
    size = len(data)
    if size <= offset:
        return None
    kind = _TYPES.get(data[offset])
    if kind is AddressType.IPV4:
        end = offset + 7
        if size < end:
            return None
        host = socket.inet_ntop(socket.AF_INET, data[offset + 1 : end - 2])
    elif kind is AddressType.IPV6:
        end = offset + 19
        if size < end:
            return None
        host = socket.inet_ntop(socket.AF_INET6, data[offset + 1 : end - 2])
    elif kind is AddressType.DOMAIN:
        if size < offset + 2:
            return None
        length = data[offset + 1]
        if length == 0:
            raise ProtocolError("empty domain name", Reply.GENERAL_FAILURE)
        end = offset + 4 + length
        if size < end:
            return None
        host = _decode_domain(bytes(data[offset + 2 : end - 2]))
    else:
        raise ProtocolError(
            f"unknown address type 0x{data[offset]:02x}", Reply.ADDRESS_TYPE_NOT_SUPPORTED
        )
    return SocksAddress(host, data[end - 2] << 8 | data[end - 1], kind), end


def _decode_domain(name: bytes) -> str:
    """The domain name as text; names no resolver could take are refused."""
    try:
        host = name.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("domain name is not UTF-8", Reply.GENERAL_FAILURE) from None
    if "\x00" in host:
        raise ProtocolError("domain name contains NUL", Reply.GENERAL_FAILURE)
    return host


def parse_greeting(data: Buffer) -> tuple[Greeting, int] | None:
    """Read ``VER NMETHODS METHODS``; a version other than 5 gets no reply."""
    if not data:
        return None
    _check_version(data[0], "greeting")
    if len(data) < 2:
        return None
    end = 2 + data[1]
    if len(data) < end:
        return None
    return Greeting(frozenset(data[2:end])), end


def parse_credentials(data: Buffer) -> tuple[Credentials, int] | None:
    """Read ``VER ULEN UNAME PLEN PASSWD`` (RFC 1929): version 1, fields of 1-255 bytes."""
    if not data:
        return None
    if data[0] != AUTH_VERSION:
        raise ProtocolError(f"username/password version {data[0]} is not 1")
    if len(data) < 2:
        return None
    user_end = 2 + data[1]
    if user_end == 2:
        raise ProtocolError("empty user name")
    if len(data) <= user_end:
        return None
    end = user_end + 1 + data[user_end]
    if end == user_end + 1:
        raise ProtocolError("empty password")
    if len(data) < end:
        return None
    username = bytes(data[2:user_end]).decode("utf-8", "surrogateescape")
    password = bytes(data[user_end + 1 : end]).decode("utf-8", "surrogateescape")
    return Credentials(username, password), end


_COMMANDS: Final = {command.value: command for command in Command}


def parse_request(data: Buffer) -> tuple[Request, int] | None:
    """Read ``VER CMD RSV ATYP DST.ADDR DST.PORT``, checking each field in order.

    A wrong version gets no reply; an unknown command ``COMMAND_NOT_SUPPORTED``;
    a non-zero ``RSV`` ``GENERAL_FAILURE``; address errors as ``parse_address``.
    """
    if not data:
        return None
    _check_version(data[0], "request")
    if len(data) < 2:
        return None
    command = _COMMANDS.get(data[1])
    if command is None:
        raise ProtocolError(f"unknown command 0x{data[1]:02x}", Reply.COMMAND_NOT_SUPPORTED)
    if len(data) < 3:
        return None
    if data[2] != 0:
        raise ProtocolError(f"reserved byte is 0x{data[2]:02x}, not 0", Reply.GENERAL_FAILURE)
    parsed = parse_address(data, 3)
    if parsed is None:
        return None
    address, end = parsed
    return Request(command, address), end


def _check_version(version: int, message: str) -> None:
    """Refuse a message whose ``VER`` is not 5; such a peer gets no SOCKS5 reply."""
    if version != SOCKS_VERSION:
        raise ProtocolError(f"{message} version {version} is not 5")


def pack_method(method: AuthMethod) -> bytes:
    """The method selection message ``VER METHOD``."""
    return bytes((SOCKS_VERSION, method))


def pack_reply(code: Reply, address: SocksAddress) -> bytes:
    """A reply ``VER REP RSV ATYP BND.ADDR BND.PORT``."""
    return bytes((SOCKS_VERSION, code, 0)) + address.pack()
