"""Discard summaries: per-packet discards are counted, and reported once per bind and interval.

The hot path only bumps counters (on the bind, or the engine-wide
``no-bind`` count) and, the first time a bind discards something in an
interval, puts it on the dirty list. ``tick`` turns the dirty list into one
``discard-summary`` event per bind: a flood of refused traffic costs a few
events a second, never one per packet.
"""

from __future__ import annotations

from engine.core.arguments import endpoint_text
from engine.core.binds import Bind
from engine.core.events import EventHub, EventKind
from engine.core.verdicts import NO_BIND

__all__ = ["DiscardLedger"]


class DiscardLedger:
    """Binds with discards in the current interval, and discards no bind owned."""

    __slots__ = ("dirty", "last_flush", "unbound")

    def __init__(self, now: float) -> None:
        """An empty ledger whose first interval starts at ``now``."""
        self.dirty: list[Bind] = []
        """Binds that discarded something since the last flush."""
        self.unbound = 0
        """Traffic to addresses no live bind holds, since the last flush."""
        self.last_flush = now

    def due(self, now: float, interval: float) -> bool:
        """True when ``interval`` seconds have passed since the last flush."""
        return now - self.last_flush >= interval

    def flush(self, events: EventHub, now: float) -> int:
        """Emit one ``discard-summary`` per dirty bind (and one for no-bind); returns the count."""
        emitted = 0
        for bind in self.dirty:
            counts = bind.take_interval()
            if counts:
                events.emit(
                    EventKind.DISCARD_SUMMARY,
                    now,
                    bind.id,
                    bind.session.id,
                    {
                        "address": endpoint_text(bind.address),
                        "state": bind.state.value,
                        "counts": counts,
                        "total": sum(counts.values()),
                        "since": self.last_flush,
                    },
                )
                emitted += 1
        if self.unbound:
            events.emit(
                EventKind.DISCARD_SUMMARY,
                now,
                detail={
                    "counts": {NO_BIND: self.unbound},
                    "total": self.unbound,
                    "since": self.last_flush,
                },
            )
            emitted += 1
        self.dirty = []
        self.unbound = 0
        self.last_flush = now
        return emitted
