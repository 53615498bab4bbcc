"""SOCKS5 for fwx: the server-side codec (RFC 1928, RFC 1929) and the UDP header, sans-I/O.

``ServerConnection`` turns the bytes of one control connection into events
and the server's answers into bytes; ``parse_datagram`` and ``build_datagram``
read and write the header of each relayed datagram.
"""

from __future__ import annotations

from engine.socks.codec import DEFAULT_MAX_BUFFER, MAX_HANDSHAKE, ServerConnection
from engine.socks.messages import (
    MAX_CREDENTIALS,
    MAX_GREETING,
    MAX_REQUEST,
    NEED_DATA,
    ZERO_ADDRESS,
    AddressType,
    AuthMethod,
    Command,
    Credentials,
    Event,
    Greeting,
    NeedData,
    ProtocolError,
    Reply,
    Request,
    SocksAddress,
)
from engine.socks.states import LocalProtocolError, State
from engine.socks.udp import UdpHeader, build_datagram, parse_datagram

__all__ = [
    "DEFAULT_MAX_BUFFER",
    "MAX_CREDENTIALS",
    "MAX_GREETING",
    "MAX_HANDSHAKE",
    "MAX_REQUEST",
    "NEED_DATA",
    "ZERO_ADDRESS",
    "AddressType",
    "AuthMethod",
    "Command",
    "Credentials",
    "Event",
    "Greeting",
    "LocalProtocolError",
    "NeedData",
    "ProtocolError",
    "Reply",
    "Request",
    "ServerConnection",
    "SocksAddress",
    "State",
    "UdpHeader",
    "build_datagram",
    "parse_datagram",
]
