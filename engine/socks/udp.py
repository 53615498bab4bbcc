"""The SOCKS5 UDP request header (RFC 1928 §7), read and written once per datagram.

    RSV (2, zero) | FRAG (1) | ATYP (1) | DST.ADDR | DST.PORT (2) | DATA

Both directions carry it: the client prefixes each datagram with the remote it
is for, and the relay prefixes each datagram it passes back with the remote it
came from. Fragmentation is optional in the RFC and fwx does not reassemble:
``UdpHeader.fragmented`` tells the relay to drop such a datagram.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from engine.socks.messages import Buffer, ProtocolError, SocksAddress, parse_address

__all__ = ["UdpHeader", "build_datagram", "parse_datagram"]

_RSV_FRAG = b"\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class UdpHeader:
    """The header of one datagram: its fragment number and its remote address."""

    frag: int
    address: SocksAddress

    @property
    def fragmented(self) -> bool:
        """True for any ``FRAG`` but 0, i.e. a fragment the relay drops."""
        return self.frag != 0


def parse_datagram(data: bytes | memoryview) -> tuple[UdpHeader, memoryview]:
    """Split a datagram from the client into its header and a view of its payload.

    Raises ``ProtocolError`` (with no reply: the datagram is dropped silently)
    for a datagram that is short, has non-zero ``RSV`` or a bad address.
    """
    view = memoryview(data)
    if len(view) < 4:
        raise ProtocolError(f"datagram of {len(view)} bytes is shorter than its header")
    if view[0] or view[1]:
        raise ProtocolError("datagram reserved bytes are not 0")
    try:
        parsed = parse_address(view, 3)
    except ProtocolError as exc:
        raise ProtocolError(f"datagram {exc}") from None
    if parsed is None:
        raise ProtocolError("datagram ends inside its address")
    address, end = parsed
    return UdpHeader(view[2], address), view[end:]


def build_datagram(address: SocksAddress, payload: Buffer) -> bytes:
    """A datagram for the client: the header naming ``address``, then ``payload``."""
    return _header(address) + payload


@lru_cache(maxsize=1024)
def _header(address: SocksAddress) -> bytes:
    """The header for ``address``; a relay talks to few remotes, so it is cached."""
    return _RSV_FRAG + address.pack()
