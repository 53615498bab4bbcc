"""``IpFilter``: the set of remote addresses a bind may talk with (``IFWXIpFilter``).

A filter is an address set built by including and excluding ranges
(reference §8). A new filter is empty and admits nothing (R59); a bind with
no filter at all (``None``) admits everyone (R67). The methods answer with
the SDK's result codes; the data plane asks :meth:`IpFilter.admits` with a
precomputed address key, which is a binary search and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.core.results import HResult
from rules.addresses import AddressRanges, address_key, parse_spec

__all__ = ["IpFilter"]


class IpFilter:
    """A mutable set of remote IPv4 and IPv6 addresses, with the SDK's methods."""

    __slots__ = ("_ranges", "admits")

    admits: Callable[[int], bool]
    """True when the address with this key is in the filter: the hot path, one bisect."""

    def __init__(self) -> None:
        """An empty filter: it admits no address (R59)."""
        self._set(AddressRanges.EMPTY)

    def _set(self, ranges: AddressRanges) -> None:
        """Hold ``ranges``; ``admits`` is their own membership test, with no call in between."""
        self._ranges = ranges
        self.admits = ranges.contains_key

    @classmethod
    def from_ranges(cls, ranges: AddressRanges) -> IpFilter:
        """A filter holding exactly ``ranges``."""
        ip_filter = cls()
        ip_filter._set(ranges)
        return ip_filter

    @classmethod
    def from_specs(cls, include: Iterable[str], exclude: Iterable[str] = ()) -> IpFilter:
        """A filter of ``include`` minus ``exclude`` specs; raises ValueError on a bad spec."""
        return cls.from_ranges(AddressRanges.from_specs(include, exclude))

    @property
    def ranges(self) -> AddressRanges:
        """The current address set (immutable, so safe to hand out)."""
        return self._ranges

    def include_range(self, low: str, high: str) -> HResult:
        """Add every address from ``low`` to ``high`` inclusive (R60)."""
        interval = _interval(low, high)
        if interval is None:
            return HResult.E_INVALIDARG
        self._set(self._ranges.union(AddressRanges((interval,))))
        return HResult.S_OK

    def exclude_range(self, low: str, high: str) -> HResult:
        """Remove every address from ``low`` to ``high`` inclusive, splitting ranges (R61)."""
        interval = _interval(low, high)
        if interval is None:
            return HResult.E_INVALIDARG
        self._set(self._ranges.difference(AddressRanges((interval,))))
        return HResult.S_OK

    def include_filter(self, other: IpFilter) -> HResult:
        """Add every address of ``other``; ``other`` is not changed (R62)."""
        self._set(self._ranges.union(other._ranges))
        return HResult.S_OK

    def exclude_filter(self, other: IpFilter) -> HResult:
        """Remove every address of ``other``; ``other`` is not changed (R62)."""
        self._set(self._ranges.difference(other._ranges))
        return HResult.S_OK

    def is_included(self, address: str) -> HResult:
        """``S_OK`` when ``address`` is in the filter, else ``S_FALSE`` (R64)."""
        try:
            key = address_key(address)
        except ValueError:
            return HResult.E_INVALIDARG
        return HResult.S_OK if self._ranges.contains_key(key) else HResult.S_FALSE

    def compare(self, other: IpFilter) -> HResult:
        """``S_OK`` when both filters hold the same address set, else ``S_FALSE`` (R65)."""
        return HResult.S_OK if self._ranges == other._ranges else HResult.S_FALSE

    def clone(self) -> IpFilter:
        """An independent filter with the same addresses (R66)."""
        return IpFilter.from_ranges(self._ranges)

    def specs(self) -> list[str]:
        """The addresses as address, CIDR and range specs."""
        return self._ranges.specs()

    def summary(self, limit: int = 1) -> str:
        """A short description for tables: ``block all`` or the first specs and a count."""
        specs = self._ranges.specs()
        if not specs:
            return "block all"
        shown = ", ".join(specs[:limit])
        rest = len(specs) - limit
        return f"{shown} +{rest} more" if rest > 0 else shown

    def __repr__(self) -> str:
        return f"IpFilter({self.specs()!r})"


def _interval(low: str, high: str) -> tuple[int, int] | None:
    """The key interval from ``low`` to ``high``, or None when that is not a valid range."""
    try:
        return parse_spec(f"{low}-{high}")
    except ValueError:
        return None
