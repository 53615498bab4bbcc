"""The console's copy of the live binds: counts by state, filtering and sort orders.

The store holds the latest :class:`BindSnapshot` of every bind and keeps the
totals the header shows up to date as snapshots come and go, so nothing is
recounted per refresh. Filtering and sorting are plain functions of the
snapshots, kept here so they can be checked without a screen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from engine.admin.snapshots import BindSnapshot

__all__ = ["SORTS", "BindStore", "haystack"]

_STATE_RANK = {"pending": 0, "allowed": 1, "terminating": 2, "closed": 3}


def _pending_first(bind: BindSnapshot) -> tuple[int, int]:
    return (_STATE_RANK.get(bind.state, 4), bind.id)


def _newest(bind: BindSnapshot) -> tuple[float, int]:
    return (-bind.created, bind.id)


def _most_discards(bind: BindSnapshot) -> tuple[int, int]:
    return (-bind.discarded_total, bind.id)


def _most_accepted(bind: BindSnapshot) -> tuple[int, int]:
    return (-bind.accepted, bind.id)


def _by_id(bind: BindSnapshot) -> tuple[int]:
    return (bind.id,)


SORTS: dict[str, Callable[[BindSnapshot], Any]] = {
    "pending first": _pending_first,
    "newest": _newest,
    "most discards": _most_discards,
    "most accepted": _most_accepted,
    "id": _by_id,
}
"""Sort orders by name, in the order the sort key cycles through them."""

_SORT_FIELDS: dict[str, Callable[[BindSnapshot], Any]] = {
    "pending first": lambda bind: bind.state,
    "newest": lambda bind: None,
    "most discards": lambda bind: bind.discarded_total,
    "most accepted": lambda bind: bind.accepted,
    "id": lambda bind: None,
}


def haystack(bind: BindSnapshot) -> str:
    """The text filter-as-you-type searches: every column of the bind's row, lower case."""
    words = (
        str(bind.id),
        bind.who,
        bind.transport,
        bind.address,
        bind.state,
        bind.protocol_name or "",
        bind.protocol or "",
        " ".join(bind.flag_names),
        bind.ip_filter_summary,
        bind.allowed_by or "",
    )
    return " ".join(words).lower()


class BindStore:
    """Latest snapshot per bind id, with counts by state."""

    def __init__(self) -> None:
        self._binds: dict[int, BindSnapshot] = {}
        self.states: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._binds)

    def __iter__(self) -> Iterator[BindSnapshot]:
        return iter(self._binds.values())

    def get(self, bind_id: int) -> BindSnapshot | None:
        """The latest snapshot of ``bind_id``, if it is live."""
        return self._binds.get(bind_id)

    def put(self, bind: BindSnapshot) -> BindSnapshot | None:
        """Record ``bind``; returns the snapshot it replaces, if any."""
        old = self._binds.get(bind.id)
        if old is not None:
            self.states[old.state] -= 1
        self._binds[bind.id] = bind
        self.states[bind.state] += 1
        return old

    def remove(self, bind_id: int) -> BindSnapshot | None:
        """Forget ``bind_id``; returns its last snapshot, if it was known."""
        old = self._binds.pop(bind_id, None)
        if old is not None:
            self.states[old.state] -= 1
        return old

    def replace_all(self, binds: Iterable[BindSnapshot]) -> None:
        """Start again from a full listing."""
        self._binds = {bind.id: bind for bind in binds}
        self.states = Counter(bind.state for bind in self._binds.values())

    def matching(self, text: str, sort: str) -> list[BindSnapshot]:
        """The binds whose row contains ``text`` (case-insensitive), in ``sort`` order."""
        needle = text.strip().lower()
        found = [bind for bind in self._binds.values() if needle in haystack(bind)]
        found.sort(key=SORTS[sort])
        return found

    @staticmethod
    def moves_in_sort(old: BindSnapshot | None, new: BindSnapshot, sort: str) -> bool:
        """True when ``new`` may sit elsewhere than ``old`` in ``sort`` order."""
        if old is None:
            return True
        field = _SORT_FIELDS[sort]
        return bool(field(old) != field(new))
