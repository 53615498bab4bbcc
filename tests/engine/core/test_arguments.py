"""Argument checks: what makes a call E_INVALIDARG (R21, R22) and canonical addresses."""

from __future__ import annotations

import pytest

from engine.core.arguments import (
    as_transport,
    bind_flags,
    canonical_endpoint,
    client_endpoints,
    endpoint_text,
    length_fits,
)
from engine.core.results import Flags, Transport


@pytest.mark.parametrize("value", [6, 17, Transport.TCP, Transport.UDP])
def test_r22_tcp_and_udp_are_the_only_protocols(value: int) -> None:
    assert as_transport(value) in (Transport.TCP, Transport.UDP)


@pytest.mark.parametrize("value", [0, 1, 7, 18, -6, True, "tcp", None, 6.0])
def test_r22_any_other_protocol_is_invalid(value: object) -> None:
    assert as_transport(value) is None


def test_canonical_endpoint_normalises_the_address_text() -> None:
    assert canonical_endpoint(("198.51.100.1", 40000)) == ("198.51.100.1", 40000)
    assert canonical_endpoint(("2001:DB8:0::1", 1)) == ("2001:db8::1", 1)
    assert canonical_endpoint(("::ffff:198.51.100.1", 2)) == ("198.51.100.1", 2)
    assert canonical_endpoint(("0.0.0.0", 0)) == ("0.0.0.0", 0)


@pytest.mark.parametrize(
    "value",
    [
        ("198.51.100.1", 65536),
        ("198.51.100.1", -1),
        ("198.51.100.1", "80"),
        ("198.51.100.1", True),
        ("host.example", 80),
        ("198.51.100.1",),
        ["198.51.100.1", 80],
        None,
    ],
)
def test_r22_an_unparsable_address_is_invalid(value: object) -> None:
    assert canonical_endpoint(value) is None


def test_r22_address_length_must_fit_the_family() -> None:
    assert length_fits("198.51.100.1", 16)
    assert length_fits("198.51.100.1", None)
    assert length_fits("2001:db8::1", 28)
    assert length_fits("::ffff:198.51.100.1", 28)
    assert not length_fits("198.51.100.1", 28)
    assert not length_fits("2001:db8::1", 16)
    assert not length_fits("198.51.100.1", 15)
    assert not length_fits("198.51.100.1", "16")


def test_r22_flags_unknown_bits_and_udp_only_flags_on_tcp_are_invalid() -> None:
    assert bind_flags(0, Transport.TCP) == Flags.NONE
    assert bind_flags(0x3, Transport.UDP) == Flags.BIDIRECTIONAL | Flags.INCREASE_RECEIVE_BUFFER
    assert bind_flags(Flags.BIDIRECTIONAL, Transport.TCP) is None
    assert bind_flags(Flags.INCREASE_RECEIVE_BUFFER, Transport.TCP) is None
    assert bind_flags(0x4, Transport.UDP) is None
    assert bind_flags(-1, Transport.UDP) is None
    assert bind_flags(None, Transport.UDP) is None


def test_r39_client_addresses_may_be_all_zeros_but_not_missing() -> None:
    assert client_endpoints([("0.0.0.0", 0)]) == (("0.0.0.0", 0),)
    assert client_endpoints([("10.0.0.5", 20), ("10.0.0.6", 20)]) == (
        ("10.0.0.5", 20),
        ("10.0.0.6", 20),
    )
    assert client_endpoints([]) is None
    assert client_endpoints([("10.0.0.5", 20), ("nope", 1)]) is None
    assert client_endpoints("10.0.0.5") is None  # type: ignore[arg-type]


def test_endpoint_text_brackets_ipv6() -> None:
    assert endpoint_text(("198.51.100.1", 80)) == "198.51.100.1:80"
    assert endpoint_text(("2001:db8::1", 80)) == "[2001:db8::1]:80"
