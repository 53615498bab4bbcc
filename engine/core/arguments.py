"""Argument checks of the session methods: each answers None for ``E_INVALIDARG`` (R21, R22).

The engine's methods take what an application filter or the console passes
(plain ints and tuples, as the SDK takes ints and ``sockaddr``), so every
value is checked before any state is looked at (R34). Addresses come back in
canonical text, the form the bind tables index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from engine.core.binds import Endpoint
from engine.core.results import KNOWN_FLAGS, Flags, Transport
from rules.addresses import address_key, key_text

__all__ = [
    "SOCKADDR_IN6_LENGTH",
    "SOCKADDR_IN_LENGTH",
    "as_transport",
    "bind_flags",
    "canonical_endpoint",
    "client_endpoints",
    "endpoint_text",
    "length_fits",
]

SOCKADDR_IN_LENGTH: Final = 16
"""``sizeof(sockaddr_in)``: the only valid ``AddressLength`` for an IPv4 address."""
SOCKADDR_IN6_LENGTH: Final = 28
"""``sizeof(sockaddr_in6)``: the only valid ``AddressLength`` for an IPv6 address."""


def _as_int(value: object) -> int | None:
    """``value`` when it is an int (bools are not), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def as_transport(protocol: object) -> Transport | None:
    """``Protocol`` as a :class:`Transport`, or None when it is neither TCP nor UDP (R22)."""
    number = _as_int(protocol)
    if number is None or number not in (Transport.TCP, Transport.UDP):
        return None
    return Transport(number)


def canonical_endpoint(address: object) -> Endpoint | None:
    """``(canonical IP text, port)`` for a valid endpoint (port 0..65535), else None."""
    if not isinstance(address, tuple) or len(address) != 2:
        return None
    ip, port = address[0], _as_int(address[1])
    if not isinstance(ip, str) or port is None or not 0 <= port <= 0xFFFF:
        return None
    try:
        key = address_key(ip)
    except ValueError:
        return None
    return (key_text(key), port)


def client_endpoints(addresses: Sequence[object]) -> tuple[Endpoint, ...] | None:
    """``BindForClient``'s client addresses, canonical; all zeros is allowed (R39)."""
    if isinstance(addresses, str | bytes) or not addresses:
        return None
    endpoints = tuple(canonical_endpoint(address) for address in addresses)
    if any(endpoint is None for endpoint in endpoints):
        return None
    return tuple(endpoint for endpoint in endpoints if endpoint is not None)


def length_fits(ip: str, address_length: object) -> bool:
    """True when ``AddressLength`` fits the family of ``ip`` (None stands for the right one)."""
    if address_length is None:
        return True
    wanted = SOCKADDR_IN6_LENGTH if ":" in ip else SOCKADDR_IN_LENGTH
    return _as_int(address_length) == wanted


def bind_flags(flags: object, transport: Transport) -> Flags | None:
    """``dwFlags`` as :class:`Flags`; None for unknown bits or UDP-only flags on TCP (R22)."""
    bits = _as_int(flags)
    if bits is None or bits < 0 or bits & ~int(KNOWN_FLAGS):
        return None
    if bits and transport is Transport.TCP:
        return None
    return Flags(bits)


def endpoint_text(endpoint: Endpoint) -> str:
    """``ip:port``, with IPv6 in brackets: the form events and tables show."""
    ip, port = endpoint
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
