"""Coalesced event batches: engine events turned into :class:`EventBatch` values.

A pump on the service's loop drains an engine subscription every interval
and hands what it drained to a :class:`BatchBuilder`, which answers one batch:
snapshots of the binds and sessions the events touched (plus, every
``SWEEP_EVERY`` batches, of binds whose counters moved without an event, such
as accepted UDP datagrams). The in-process console and the admin socket's
subscriptions both use it, so both see exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.admin.convert import bind_snapshot, event_snapshot, session_snapshot
from engine.admin.snapshots import EventBatch, EventSnapshot, Timebase
from engine.core import Engine, Event, EventKind, Gap

__all__ = ["KEEP_EVENTS", "SWEEP_EVERY", "BatchBuilder"]

KEEP_EVENTS = 2000
"""Events a merged batch keeps (the newest); older ones only count in ``kinds``."""

SWEEP_EVERY = 10
"""Batches between two sweeps of every bind's counters."""

_Signature = tuple[str, int, float | None]

_SESSION_KINDS = frozenset(
    {
        EventKind.SESSION_CREATED,
        EventKind.SESSION_ENDED,
        EventKind.BIND_CREATED,
        EventKind.BIND_ALLOWED,
        EventKind.BIND_CLOSED,
        EventKind.BIND_EXPIRED,
    }
)
"""Events that change what a session snapshot shows (its bind counts); others leave it alone."""


class BatchBuilder:
    """Builds batches from one subscription, on the service's loop."""

    def __init__(self, engine: Engine, timebase: Callable[[], Timebase]) -> None:
        """A builder for ``engine``; ``timebase`` reads both clocks."""
        self._engine = engine
        self._timebase = timebase
        self._signatures: dict[int, _Signature] = {}
        self._batches = 0

    def build(self, drained: list[Event | Gap]) -> EventBatch:
        """One batch from what the subscription drained (events and gaps)."""
        engine = self._engine
        time = self._timebase()
        events: list[EventSnapshot] = []
        bind_ids: set[int] = set()
        session_ids: set[int] = set()
        missed = discards = 0
        for item in drained:
            if isinstance(item, Gap):
                missed += item.missed
                continue
            events.append(event_snapshot(item, time))
            if item.bind_id is not None:
                bind_ids.add(item.bind_id)
            if item.session_id is not None and item.kind in _SESSION_KINDS:
                session_ids.add(item.session_id)
            if item.kind is EventKind.DISCARD_SUMMARY:
                total = item.detail.get("total", 0)
                discards += total if isinstance(total, int) else 0
        self._batches += 1
        if self._batches % SWEEP_EVERY == 0:
            bind_ids |= self._sweep()
        names = {proto.guid: proto.name for proto in engine.protocols()}
        binds, removed = [], []
        for bind_id in sorted(bind_ids):
            bind = engine.get_bind(bind_id)
            if bind is None:
                removed.append(bind_id)
                self._signatures.pop(bind_id, None)
            else:
                binds.append(bind_snapshot(bind, time, names))
        sessions, gone = [], []
        if session_ids:
            live = {session.id: session for session in engine.sessions()}
            for session_id in sorted(session_ids):
                session = live.get(session_id)
                if session is None:
                    gone.append(session_id)
                else:
                    sessions.append(session_snapshot(session, time))
        return EventBatch(
            time=time.wall_now,
            events=tuple(events),
            missed=missed,
            binds=tuple(binds),
            removed_binds=tuple(removed),
            sessions=tuple(sessions),
            removed_sessions=tuple(gone),
            discards=discards,
            kinds=tuple(sorted({event.kind for event in events})),
        )

    def _sweep(self) -> set[int]:
        """Ids of binds whose state or counters changed since the previous sweep."""
        changed: set[int] = set()
        signatures: dict[int, _Signature] = {}
        for bind in self._engine.binds():
            signature = (bind.state.value, bind.accepted, bind.last_seen)
            signatures[bind.id] = signature
            if self._signatures.get(bind.id) != signature:
                changed.add(bind.id)
        changed |= set(self._signatures) - set(signatures)
        self._signatures = signatures
        return changed
