"""The SOCKS5 UDP request header (RFC 1928 §7), read and written at byte level."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.socks import ProtocolError, SocksAddress, UdpHeader, build_datagram, parse_datagram
from engine.socks.messages import AddressType

DNS_V4 = SocksAddress("192.0.2.53", 53, AddressType.IPV4)
DNS_V6 = SocksAddress("2001:db8::35", 53, AddressType.IPV6)
DNS_NAME = SocksAddress("dns.example", 53, AddressType.DOMAIN)


@pytest.mark.parametrize(
    ("header", "address"),
    [
        (b"\x00\x00\x00\x01\xc0\x00\x02\x35\x00\x35", DNS_V4),
        (b"\x00\x00\x00\x04\x20\x01\x0d\xb8" + bytes(11) + b"\x35\x00\x35", DNS_V6),
        (b"\x00\x00\x00\x03\x0bdns.example\x00\x35", DNS_NAME),
    ],
)
def test_datagram_header_for_each_address_type(header: bytes, address: SocksAddress) -> None:
    parsed, payload = parse_datagram(header + b"query")
    assert parsed == UdpHeader(0, address)
    assert not parsed.fragmented
    assert payload == b"query"
    assert build_datagram(address, b"query") == header + b"query"


def test_payload_is_a_view_of_the_datagram_not_a_copy() -> None:
    datagram = bytearray(b"\x00\x00\x00\x01\xc0\x00\x02\x35\x00\x35abc")
    _, payload = parse_datagram(memoryview(datagram))
    datagram[-1:] = b"z"
    assert payload == b"abz"


def test_empty_payload_is_a_datagram() -> None:
    _, payload = parse_datagram(b"\x00\x00\x00\x01\xc0\x00\x02\x35\x00\x35")
    assert payload == b""


@pytest.mark.parametrize("frag", [0x01, 0x7F, 0x80, 0x81])
def test_fragments_are_reported_so_the_relay_can_drop_them(frag: int) -> None:
    header, _ = parse_datagram(bytes((0, 0, frag)) + b"\x01\xc0\x00\x02\x35\x00\x35x")
    assert header.frag == frag
    assert header.fragmented


@pytest.mark.parametrize(
    ("datagram", "message"),
    [
        (b"", "shorter than its header"),
        (b"\x00\x00\x00", "shorter than its header"),
        (b"\x00\x01\x00\x01\xc0\x00\x02\x35\x00\x35", "reserved bytes"),
        (b"\x01\x00\x00\x01\xc0\x00\x02\x35\x00\x35", "reserved bytes"),
        (b"\x00\x00\x00\x01\xc0\x00\x02\x35\x00", "ends inside its address"),
        (b"\x00\x00\x00\x04" + bytes(17), "ends inside its address"),
        (b"\x00\x00\x00\x03\x05dns", "ends inside its address"),
        (b"\x00\x00\x00\x02\xc0\x00\x02\x35\x00\x35", "unknown address type 0x02"),
        (b"\x00\x00\x00\x03\x00\x00\x35", "empty domain name"),
    ],
)
def test_malformed_datagram_is_refused_silently(datagram: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        parse_datagram(datagram)
    assert caught.value.reply is None
    assert caught.value.data_to_send == b""


def test_build_takes_a_memoryview_payload() -> None:
    assert build_datagram(DNS_V4, memoryview(b"xyz")[1:]).endswith(b"\x00\x35yz")


@given(st.ip_addresses(), st.integers(0, 0xFFFF), st.binary(max_size=64))
def test_every_datagram_built_parses_back(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, payload: bytes
) -> None:
    address = SocksAddress.from_ip(str(ip), port)
    header, parsed_payload = parse_datagram(build_datagram(address, payload))
    assert header == UdpHeader(0, address)
    assert parsed_payload == payload


def parse_or_error(datagram: bytes) -> tuple[UdpHeader, memoryview] | ProtocolError:
    """What ``parse_datagram`` makes of ``datagram``: its result or its ProtocolError."""
    try:
        return parse_datagram(datagram)
    except ProtocolError as error:
        return error


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_protocol_error(datagram: bytes) -> None:
    result = parse_or_error(datagram)
    if isinstance(result, ProtocolError):
        assert result.reply is None
        return
    header, payload = result
    assert datagram.endswith(payload)
    assert header.address.pack() == datagram[3 : len(datagram) - len(payload)]
