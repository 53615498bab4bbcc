"""SOCKS5 wire values: enums, addresses, events and the message parsers, at byte level."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.socks.messages import (
    MAX_CREDENTIALS,
    MAX_GREETING,
    AddressType,
    AuthMethod,
    Command,
    Credentials,
    Greeting,
    ProtocolError,
    Reply,
    SocksAddress,
    pack_method,
    pack_reply,
    parse_address,
    parse_credentials,
    parse_greeting,
)


def test_enums_carry_the_rfc_wire_values() -> None:
    assert [m.value for m in AuthMethod] == [0x00, 0x02, 0xFF]
    assert [c.value for c in Command] == [1, 2, 3]
    assert [t.value for t in AddressType] == [1, 3, 4]


@pytest.mark.parametrize(
    ("text", "host", "kind"),
    [
        ("192.0.2.1", "192.0.2.1", AddressType.IPV4),
        ("2001:DB8:0:0::0001", "2001:db8::1", AddressType.IPV6),
        ("fe80::1%eth0", "fe80::1", AddressType.IPV6),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1", AddressType.IPV6),
    ],
)
def test_from_ip_makes_the_text_canonical(text: str, host: str, kind: AddressType) -> None:
    assert SocksAddress.from_ip(text, 80) == SocksAddress(host, 80, kind)


@pytest.mark.parametrize("text", ["", "192.0.2", "example.org", "1.2.3.4\x00", "::g"])
def test_from_ip_refuses_what_is_not_an_ip(text: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        SocksAddress.from_ip(text, 80)


@pytest.mark.parametrize("port", [-1, 65536])
def test_port_outside_16_bits_is_refused(port: int) -> None:
    with pytest.raises(ValueError, match="outside 0-65535"):
        SocksAddress("192.0.2.1", port, AddressType.IPV4)


@pytest.mark.parametrize(
    ("address", "packed"),
    [
        (SocksAddress("192.0.2.1", 1080, AddressType.IPV4), b"\x01\xc0\x00\x02\x01\x04\x38"),
        (SocksAddress("::1", 53, AddressType.IPV6), b"\x04" + bytes(15) + b"\x01\x00\x35"),
        (SocksAddress("ftp.example", 21, AddressType.DOMAIN), b"\x03\x0bftp.example\x00\x15"),
    ],
)
def test_pack_writes_atyp_addr_port(address: SocksAddress, packed: bytes) -> None:
    assert address.pack() == packed


@pytest.mark.parametrize(
    "address",
    [
        SocksAddress("", 80, AddressType.DOMAIN),
        SocksAddress("a" * 256, 80, AddressType.DOMAIN),
        SocksAddress("example.org", 80, AddressType.IPV4),
        SocksAddress("192.0.2.1", 80, AddressType.IPV6),
    ],
)
def test_pack_refuses_a_host_that_does_not_fit_its_type(address: SocksAddress) -> None:
    with pytest.raises(ValueError, match=r"outside 1-255|is not an"):
        address.pack()


def test_unspecified_addresses() -> None:
    assert SocksAddress.from_ip("0.0.0.0", 0).is_unspecified
    assert SocksAddress.from_ip("::", 5).is_unspecified
    assert not SocksAddress.from_ip("127.0.0.1", 0).is_unspecified
    assert not SocksAddress("0.0.0.0", 0, AddressType.DOMAIN).is_unspecified


@given(st.ip_addresses(), st.integers(0, 0xFFFF), st.binary(max_size=8))
def test_every_ip_address_packs_and_parses_back(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, tail: bytes
) -> None:
    address = SocksAddress.from_ip(str(ip), port)
    packed = address.pack()
    assert parse_address(b"xy" + packed + tail, 2) == (address, 2 + len(packed))
    assert ipaddress.ip_address(address.host) == ip


@given(st.binary(min_size=1, max_size=255))
def test_incomplete_address_needs_data(name: bytes) -> None:
    packed = b"\x03" + bytes((len(name),)) + name + b"\x00\x50"
    for cut in range(len(packed)):
        assert parse_address(packed[:cut], 0) is None


def test_greeting_needs_exactly_its_methods() -> None:
    data = b"\x05\xff" + bytes(255)
    assert len(data) == MAX_GREETING
    assert parse_greeting(data[:-1]) is None
    assert parse_greeting(data + b"next") == (Greeting(frozenset({0})), MAX_GREETING)


def test_longest_credentials_are_max_credentials_bytes() -> None:
    data = b"\x01\xff" + b"u" * 255 + b"\xff" + b"p" * 255
    assert len(data) == MAX_CREDENTIALS
    assert parse_credentials(data[:-1]) is None
    assert parse_credentials(data) == (Credentials("u" * 255, "p" * 255), MAX_CREDENTIALS)


def test_credentials_keep_the_password_out_of_repr() -> None:
    assert "hunter2" not in repr(Credentials("alice", "hunter2"))


def test_protocol_error_starts_with_nothing_to_send() -> None:
    error = ProtocolError("bad", Reply.GENERAL_FAILURE)
    assert (str(error), error.reply, error.data_to_send) == ("bad", Reply.GENERAL_FAILURE, b"")


def test_method_and_reply_messages() -> None:
    assert pack_method(AuthMethod.USERNAME_PASSWORD) == b"\x05\x02"
    assert pack_reply(Reply.HOST_UNREACHABLE, SocksAddress("::", 0, AddressType.IPV6)) == (
        b"\x05\x04\x00\x04" + bytes(18)
    )
