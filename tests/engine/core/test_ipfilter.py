"""IpFilter: the SDK's IFWXIpFilter methods (reference §8, R59-R67)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from engine.core.ipfilter import IpFilter
from engine.core.results import HResult
from rules.addresses import address_key

near = st.integers(min_value=0, max_value=200)


def ip(n: int) -> str:
    return str(ipaddress.IPv4Address(n))


def test_r59_a_new_filter_includes_nothing() -> None:
    assert IpFilter().is_included("203.0.113.7") is HResult.S_FALSE


def test_r60_include_range_is_inclusive_and_rejects_backwards_ranges() -> None:
    f = IpFilter()
    assert f.include_range("10.0.0.1", "10.0.0.3") is HResult.S_OK
    assert [f.is_included(ip) for ip in ("10.0.0.0", "10.0.0.1", "10.0.0.3", "10.0.0.4")] == [
        HResult.S_FALSE,
        HResult.S_OK,
        HResult.S_OK,
        HResult.S_FALSE,
    ]
    assert f.include_range("10.0.0.9", "10.0.0.1") is HResult.E_INVALIDARG
    assert f.include_range("10.0.0.1", "::1") is HResult.E_INVALIDARG
    assert f.include_range("nonsense", "10.0.0.1") is HResult.E_INVALIDARG


def test_r61_exclude_range_splits_an_included_range() -> None:
    f = IpFilter()
    f.include_range("10.0.0.0", "10.0.0.255")
    assert f.exclude_range("10.0.0.10", "10.0.0.20") is HResult.S_OK
    assert f.specs() == ["10.0.0.0-10.0.0.9", "10.0.0.21-10.0.0.255"]


def test_r62_include_and_exclude_filter_leave_the_argument_unchanged() -> None:
    a = IpFilter.from_specs(["10.0.0.0/24"])
    b = IpFilter.from_specs(["10.0.0.128/25", "192.0.2.1"])
    assert a.include_filter(b) is HResult.S_OK
    assert a.specs() == ["10.0.0.0/24", "192.0.2.1"]
    assert a.exclude_filter(IpFilter.from_specs(["10.0.0.0/25"])) is HResult.S_OK
    assert a.specs() == ["10.0.0.128/25", "192.0.2.1"]
    assert b.specs() == ["10.0.0.128/25", "192.0.2.1"]


def test_r63_order_of_include_and_exclude_matters_only_through_the_set() -> None:
    first = IpFilter()
    first.include_range("10.0.0.0", "10.0.0.9")
    first.exclude_range("10.0.0.5", "10.0.0.5")
    second = IpFilter()
    second.exclude_range("10.0.0.5", "10.0.0.5")
    second.include_range("10.0.0.0", "10.0.0.9")
    assert first.is_included("10.0.0.5") is HResult.S_FALSE
    assert second.is_included("10.0.0.5") is HResult.S_OK


def test_r64_is_included_answers_s_ok_or_s_false_and_e_invalidarg_for_garbage() -> None:
    f = IpFilter.from_specs(["2001:db8::/32"])
    assert f.is_included("2001:db8::5") is HResult.S_OK
    assert f.is_included("2001:db9::5") is HResult.S_FALSE
    assert f.is_included("not an address") is HResult.E_INVALIDARG


def test_r65_compare_is_by_address_set_not_by_history() -> None:
    a = IpFilter()
    a.include_range("10.0.0.0", "10.0.0.4")
    a.include_range("10.0.0.5", "10.0.0.9")
    b = IpFilter.from_specs(["10.0.0.0-10.0.0.9"])
    assert a.compare(b) is HResult.S_OK
    b.exclude_range("10.0.0.9", "10.0.0.9")
    assert a.compare(b) is HResult.S_FALSE


def test_r66_clone_is_independent() -> None:
    original = IpFilter.from_specs(["10.0.0.0/24"])
    copy = original.clone()
    copy.exclude_range("10.0.0.0", "10.0.0.255")
    original.include_range("192.0.2.1", "192.0.2.1")
    assert original.specs() == ["10.0.0.0/24", "192.0.2.1"]
    assert copy.specs() == []


def test_r67_an_empty_filter_blocks_everything() -> None:
    assert not IpFilter().admits(address_key("192.0.2.1"))
    assert IpFilter().summary() == "block all"


def test_summary_names_the_first_spec_and_counts_the_rest() -> None:
    f = IpFilter.from_specs(["192.0.2.1", "198.51.100.0/24", "203.0.113.0/24"])
    assert f.summary() == "192.0.2.1 +2 more"


@given(st.lists(st.tuples(near, near, st.booleans()), max_size=8), near)
def test_any_sequence_of_calls_matches_python_set_arithmetic(
    calls: list[tuple[int, int, bool]], probe: int
) -> None:
    f = IpFilter()
    model: set[int] = set()
    for a, b, include in calls:
        low, high = min(a, b), max(a, b)
        if include:
            assert f.include_range(ip(low), ip(high)) is HResult.S_OK
            model |= set(range(low, high + 1))
        else:
            assert f.exclude_range(ip(low), ip(high)) is HResult.S_OK
            model -= set(range(low, high + 1))
    assert f.admits(address_key(ip(probe))) is (probe in model)
    assert (f.is_included(ip(probe)) is HResult.S_OK) is (probe in model)
