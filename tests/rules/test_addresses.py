"""Address keys and range sets, checked against the standard library's ipaddress."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.addresses import V6_BASE, AddressRanges, address_key, key_text, parse_spec

v4 = st.integers(min_value=0, max_value=(1 << 32) - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
v6 = st.integers(min_value=0, max_value=(1 << 128) - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
# Small IPv4 neighbourhood so that random ranges overlap often.
near = st.integers(min_value=0, max_value=300).map(lambda n: str(ipaddress.IPv4Address(n)))


def test_ipv4_and_ipv6_keys_never_collide() -> None:
    assert address_key("0.0.0.1") == 1
    assert address_key("::1") == V6_BASE + 1


def test_ipv4_mapped_ipv6_is_the_ipv4_address() -> None:
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")


@given(st.one_of(v4, v6))
def test_key_text_round_trips(text: str) -> None:
    assert key_text(address_key(text)) == str(ipaddress.ip_address(text))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("10.0.0.1/8", "has host bits set; did you mean '10.0.0.0/8'?"),
        ("10.0.0.9-10.0.0.1", "runs backwards"),
        ("10.0.0.1-::1", "mixes IPv4 and IPv6"),
        ("300.1.1.1", "is not an IP address"),
        ("10.0.0.0/33", "is not a valid CIDR block"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?")):
        parse_spec(spec)


def test_specs_parse_to_inclusive_intervals() -> None:
    assert parse_spec("10.0.0.0/30") == (address_key("10.0.0.0"), address_key("10.0.0.3"))
    assert parse_spec("10.0.0.5 - 10.0.0.7") == (address_key("10.0.0.5"), address_key("10.0.0.7"))
    assert parse_spec("2001:db8::1") == (address_key("2001:db8::1"),) * 2


def _reference(include: list[tuple[str, str]], exclude: list[tuple[str, str]]) -> set[int]:
    def expand(pairs: list[tuple[str, str]]) -> set[int]:
        out: set[int] = set()
        for a, b in pairs:
            low, high = sorted((int(ipaddress.ip_address(a)), int(ipaddress.ip_address(b))))
            out.update(range(low, high + 1))
        return out

    return expand(include) - expand(exclude)


pairs = st.lists(st.tuples(near, near), max_size=6)


@given(pairs, pairs, near)
def test_membership_matches_ipaddress_set_arithmetic(
    include: list[tuple[str, str]], exclude: list[tuple[str, str]], probe: str
) -> None:
    ordered = [f"{min(a, b, key=address_key)}-{max(a, b, key=address_key)}" for a, b in include]
    excluded = [f"{min(a, b, key=address_key)}-{max(a, b, key=address_key)}" for a, b in exclude]
    ranges = AddressRanges.from_specs(ordered, excluded)
    expected = int(ipaddress.ip_address(probe)) in _reference(include, exclude)
    assert (address_key(probe) in ranges) is expected


@given(pairs)
def test_intervals_are_sorted_disjoint_and_not_adjacent(include: list[tuple[str, str]]) -> None:
    ranges = AddressRanges.from_intervals(
        tuple(sorted((address_key(a), address_key(b)))) for a, b in include
    )
    for (_, high), (low, _) in zip(ranges.intervals, ranges.intervals[1:], strict=False):
        assert high + 1 < low


@given(pairs, pairs)
def test_specs_round_trip_to_the_same_set(
    include: list[tuple[str, str]], exclude: list[tuple[str, str]]
) -> None:
    def spec(a: str, b: str) -> str:
        return f"{min(a, b, key=address_key)}-{max(a, b, key=address_key)}"

    ranges = AddressRanges.from_specs([spec(*p) for p in include], [spec(*p) for p in exclude])
    assert AddressRanges.from_specs(ranges.specs()) == ranges


def test_specs_use_cidr_where_exact() -> None:
    ranges = AddressRanges.from_specs(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"])
    assert ranges.specs() == ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]


def test_mixed_families_in_one_set() -> None:
    ranges = AddressRanges.from_specs(["0.0.0.0/0", "::/0"], ["10.0.0.0/8", "2001:db8::/32"])
    assert address_key("8.8.8.8") in ranges
    assert address_key("10.1.1.1") not in ranges
    assert address_key("2001:db9::1") in ranges
    assert address_key("2001:db8::1") not in ranges


def test_an_ipv4_mapped_block_is_the_ipv4_block() -> None:
    assert parse_spec("::ffff:10.0.0.0/104") == parse_spec("10.0.0.0/8")
