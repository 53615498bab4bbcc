"""IP addresses as integer keys, and immutable sets of address ranges.

IPv4 and IPv6 share one integer key space so a single sorted list of
intervals holds both families: an IPv4 address is its 32-bit value, an IPv6
address is ``V6_BASE`` plus its 128-bit value. IPv4-mapped IPv6 addresses
(``::ffff:a.b.c.d``) are the IPv4 address they carry. Membership is a
binary search over the interval starts: no parsing and no allocation per
lookup, which is what the firewall's hot path needs.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
from array import array
from collections.abc import Iterable

__all__ = ["V6_BASE", "AddressRanges", "address_key", "key_text", "parse_spec"]

V6_BASE = 1 << 128


def _key_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return int(address.ipv4_mapped)
        return V6_BASE + int(address)
    return int(address)


@functools.lru_cache(maxsize=65536)
def address_key(text: str) -> int:
    """The integer key of an IP address given as text; raises ValueError if it is not one."""
    try:
        return _key_of(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def key_text(key: int) -> str:
    """The text of the address behind ``key`` (the inverse of :func:`address_key`)."""
    if key >= V6_BASE:
        return str(ipaddress.IPv6Address(key - V6_BASE))
    return str(ipaddress.IPv4Address(key))


def parse_spec(spec: str) -> tuple[int, int]:
    """The inclusive key interval of an address, a CIDR block or an ``a-b`` range."""
    text = spec.strip()
    if "/" in text:
        try:
            network = ipaddress.ip_network(text)
        except ValueError as err:
            if "host bits set" in str(err):
                suggestion = ipaddress.ip_network(text, strict=False)
                raise ValueError(
                    f"{text!r} has host bits set; did you mean {str(suggestion)!r}?"
                ) from None
            raise ValueError(f"{text!r} is not a valid CIDR block") from None
        low = _key_of(network.network_address)
        return low, low + network.num_addresses - 1
    if "-" in text:
        first, _, last = text.partition("-")
        low, high = address_key(first.strip()), address_key(last.strip())
        if (low >= V6_BASE) != (high >= V6_BASE):
            raise ValueError(f"{text!r} mixes IPv4 and IPv6")
        if low > high:
            raise ValueError(f"{text!r} runs backwards (the first address is above the last)")
        return low, high
    key = address_key(text)
    return key, key


def _normalise(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return tuple((low, high) for low, high in merged)


class AddressRanges:
    """An immutable set of addresses: sorted, disjoint, inclusive key intervals.

    IPv4 bounds are kept in contiguous 32-bit arrays, so a binary search over
    a large set touches a few cache lines instead of scattered int objects;
    IPv6 bounds (wider than any array type) in lists.
    """

    __slots__ = ("_intervals", "_v4_ends", "_v4_starts", "_v6_ends", "_v6_starts")

    EMPTY: AddressRanges

    def __init__(self, intervals: tuple[tuple[int, int], ...] = ()) -> None:
        """Wrap already-normalised intervals; use the ``from_*`` constructors otherwise."""
        self._intervals = intervals
        v4 = [interval for interval in intervals if interval[0] < V6_BASE]
        v6 = intervals[len(v4) :]
        self._v4_starts = array("I", [low for low, _ in v4])
        self._v4_ends = array("I", [high for _, high in v4])
        self._v6_starts = [low for low, _ in v6]
        self._v6_ends = [high for _, high in v6]

    @classmethod
    def from_intervals(cls, intervals: Iterable[tuple[int, int]]) -> AddressRanges:
        """A set from any intervals: they are sorted, and overlapping or adjacent ones merged."""
        return cls(_normalise(intervals))

    @classmethod
    def from_specs(cls, include: Iterable[str], exclude: Iterable[str] = ()) -> AddressRanges:
        """The addresses of ``include`` minus those of ``exclude`` (ValueError on a bad spec)."""
        included = cls.from_intervals(parse_spec(spec) for spec in include)
        excluded = cls.from_intervals(parse_spec(spec) for spec in exclude)
        return included.difference(excluded)

    @property
    def intervals(self) -> tuple[tuple[int, int], ...]:
        """The inclusive key intervals, in ascending order."""
        return self._intervals

    def contains_key(self, key: int) -> bool:
        """True when the address ``key`` is in the set (binary search)."""
        if key < V6_BASE:
            index = bisect.bisect_right(self._v4_starts, key) - 1
            return index >= 0 and key <= self._v4_ends[index]
        index = bisect.bisect_right(self._v6_starts, key) - 1
        return index >= 0 and key <= self._v6_ends[index]

    __contains__ = contains_key

    def union(self, other: AddressRanges) -> AddressRanges:
        """Every address in either set."""
        return AddressRanges.from_intervals(self._intervals + other._intervals)

    def difference(self, other: AddressRanges) -> AddressRanges:
        """The addresses of this set that are not in ``other``."""
        if not other._intervals or not self._intervals:
            return self
        result: list[tuple[int, int]] = []
        cut = other._intervals
        index = 0
        for low, high in self._intervals:
            while index < len(cut) and cut[index][1] < low:
                index += 1
            position = index
            start = low
            while position < len(cut) and cut[position][0] <= high:
                cut_low, cut_high = cut[position]
                if cut_low > start:
                    result.append((start, cut_low - 1))
                start = max(start, cut_high + 1)
                position += 1
            if start <= high:
                result.append((start, high))
        return AddressRanges(tuple(result))

    def specs(self) -> list[str]:
        """The set spelt as few address, CIDR and ``a-b`` specs as the intervals allow."""
        return [_interval_spec(low, high) for low, high in self._intervals]

    def __len__(self) -> int:
        return len(self._intervals)

    def __bool__(self) -> bool:
        return bool(self._intervals)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AddressRanges):
            return NotImplemented
        return self._intervals == other._intervals

    def __hash__(self) -> int:
        return hash(self._intervals)

    def __repr__(self) -> str:
        return f"AddressRanges({self.specs()!r})"


AddressRanges.EMPTY = AddressRanges()


def _interval_spec(low: int, high: int) -> str:
    if low == high:
        return key_text(low)
    size = high - low + 1
    family_bits = 128 if low >= V6_BASE else 32
    offset = V6_BASE if low >= V6_BASE else 0
    if size & (size - 1) == 0 and (low - offset) % size == 0:
        prefix = family_bits - (size.bit_length() - 1)
        return f"{key_text(low)}/{prefix}"
    return f"{key_text(low)}-{key_text(high)}"
