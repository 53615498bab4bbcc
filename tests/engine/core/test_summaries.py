"""Discard summaries: counted per bind, one event per bind and interval, never per packet."""

from __future__ import annotations

from engine.core.binds import Bind
from engine.core.events import Event, EventHub, EventKind
from engine.core.results import Transport
from engine.core.sessions import Session, SessionFlags
from engine.core.summaries import DiscardLedger

REMOTE = ("203.0.113.7", 5555)


def bind(number: int) -> Bind:
    session = Session(1, "10.0.0.5", None, SessionFlags.NAT, 0.0)
    return Bind(number, session, Transport.TCP, ("198.51.100.1", 40000 + number), 0.0)


def test_one_summary_per_dirty_bind_with_the_interval_counts() -> None:
    hub = EventHub()
    events = hub.subscribe()
    ledger = DiscardLedger(0.0)
    first, second = bind(1), bind(2)
    for target, reason in ((first, "pending"), (first, "pending"), (second, "ip-filter")):
        if target.count_discard(reason, REMOTE, 0.5):
            ledger.dirty.append(target)
    ledger.unbound = 3
    assert not ledger.due(0.9, 1.0)
    assert ledger.due(1.0, 1.0)
    assert ledger.flush(hub, 1.0) == 3
    drained = [event for event in events.drain() if isinstance(event, Event)]
    assert [event.kind for event in drained] == [EventKind.DISCARD_SUMMARY] * 3
    assert [(event.bind_id, event.detail["counts"]) for event in drained] == [
        (1, {"pending": 2}),
        (2, {"ip-filter": 1}),
        (None, {"no-bind": 3}),
    ]
    assert drained[0].detail["total"] == 2
    assert drained[0].detail["since"] == 0.0


def test_a_quiet_interval_emits_nothing() -> None:
    hub = EventHub()
    events = hub.subscribe()
    ledger = DiscardLedger(0.0)
    assert ledger.flush(hub, 1.0) == 0
    assert events.drain() == []
    assert ledger.last_flush == 1.0
