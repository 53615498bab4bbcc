"""Events: numbered, fanned out to bounded queues; slow readers get a Gap, never block."""

from __future__ import annotations

import dataclasses

import pytest

from engine.core.events import Event, EventHub, EventKind, Gap


def emit(hub: EventHub, count: int) -> None:
    for number in range(count):
        hub.emit(EventKind.CONNECT, float(number), None, 1, {"n": number})


def test_sequence_numbers_start_at_one_and_rise() -> None:
    hub = EventHub()
    subscription = hub.subscribe()
    emit(hub, 3)
    drained = subscription.drain()
    assert [event.seq for event in drained if isinstance(event, Event)] == [1, 2, 3]
    assert hub.last_seq == 3


def test_events_are_numbered_even_when_nobody_listens() -> None:
    hub = EventHub()
    emit(hub, 2)
    assert not hub.listening
    subscription = hub.subscribe()
    emit(hub, 1)
    (event,) = subscription.drain()
    assert isinstance(event, Event)
    assert event.seq == 3


def test_every_subscription_gets_every_event() -> None:
    hub = EventHub()
    first, second = hub.subscribe(), hub.subscribe()
    emit(hub, 2)
    assert first.drain() == second.drain()
    assert first.drain() == []


def test_a_full_queue_drops_the_oldest_and_reports_a_gap() -> None:
    hub = EventHub()
    slow = hub.subscribe(capacity=3)
    emit(hub, 10)
    drained = slow.drain()
    assert drained[0] == Gap(7)
    assert [event.seq for event in drained[1:] if isinstance(event, Event)] == [8, 9, 10]
    emit(hub, 1)
    assert [type(item) for item in slow.drain()] == [Event]


def test_a_closed_subscription_receives_nothing_more() -> None:
    hub = EventHub()
    subscription = hub.subscribe()
    emit(hub, 1)
    subscription.close()
    subscription.close()
    emit(hub, 1)
    assert subscription.closed
    assert len(subscription.drain()) == 1
    assert not hub.listening


def test_a_subscription_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one"):
        EventHub().subscribe(capacity=0)


def test_event_detail_is_a_read_only_copy() -> None:
    hub = EventHub()
    subscription = hub.subscribe()
    detail = {"reason": "x"}
    hub.emit(EventKind.BIND_CREATED, 1.0, 7, 3, detail)
    detail["reason"] = "changed"
    (event,) = subscription.drain()
    assert isinstance(event, Event)
    assert event.detail == {"reason": "x"}
    assert (event.bind_id, event.session_id, event.time) == (7, 3, 1.0)
    with pytest.raises(TypeError):
        event.detail["reason"] = "y"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.seq = 9  # type: ignore[misc]


def test_event_kinds_have_the_documented_names() -> None:
    assert {kind.value for kind in EventKind} == {
        "session-created",
        "session-ended",
        "bind-created",
        "bind-allowed",
        "bind-terminating",
        "bind-closed",
        "bind-expired",
        "allow-refused",
        "inbound-accepted",
        "discard-summary",
        "connect",
        "protocol-registered",
        "protocol-unregistered",
        "rules-replaced",
        "future-connect-granted",
        "future-connect-used",
    }
