"""Events: every state change the engine makes, fanned out to bounded subscriber queues.

Each event has a sequence number, monotonic from 1, so a reader can tell
order and loss. The engine never blocks on a reader: each
:class:`Subscription` is a bounded queue, and when it is full the oldest
events are dropped and counted; the reader then drains a :class:`Gap` with
that count in their place. Per-packet discards are never events: binds count
them, and ``tick`` emits one ``discard-summary`` per bind and interval.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DEFAULT_CAPACITY", "Event", "EventHub", "EventKind", "Gap", "Subscription"]

DEFAULT_CAPACITY = 10_000
"""Events a subscription holds before it starts dropping the oldest."""


class EventKind(enum.Enum):
    """What happened."""

    SESSION_CREATED = "session-created"
    SESSION_ENDED = "session-ended"
    BIND_CREATED = "bind-created"
    BIND_ALLOWED = "bind-allowed"
    BIND_TERMINATING = "bind-terminating"
    BIND_CLOSED = "bind-closed"
    BIND_EXPIRED = "bind-expired"
    ALLOW_REFUSED = "allow-refused"
    INBOUND_ACCEPTED = "inbound-accepted"
    DISCARD_SUMMARY = "discard-summary"
    CONNECT = "connect"
    PROTOCOL_REGISTERED = "protocol-registered"
    PROTOCOL_UNREGISTERED = "protocol-unregistered"
    RULES_REPLACED = "rules-replaced"
    FUTURE_CONNECT_GRANTED = "future-connect-granted"
    FUTURE_CONNECT_USED = "future-connect-used"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened; ``detail`` holds JSON-able values only."""

    seq: int
    time: float
    kind: EventKind
    bind_id: int | None
    session_id: int | None
    detail: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Gap:
    """Stands for ``missed`` events a slow subscriber lost (the oldest ones)."""

    missed: int


class Subscription:
    """A bounded queue of events for one reader; it never makes the engine wait."""

    __slots__ = ("_closed", "_hub", "_missed", "_queue", "capacity")

    def __init__(self, hub: EventHub, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a subscription needs room for at least one event, not {capacity}")
        self._hub = hub
        self._queue: deque[Event] = deque()
        self._missed = 0
        self._closed = False
        self.capacity = capacity

    def push(self, event: Event) -> None:
        """Queue ``event``; when full, drop the oldest event and count it."""
        queue = self._queue
        if len(queue) >= self.capacity:
            queue.popleft()
            self._missed += 1
        queue.append(event)

    def drain(self) -> list[Event | Gap]:
        """Everything queued, oldest first, behind a :class:`Gap` when events were lost."""
        drained: list[Event | Gap] = [Gap(self._missed)] if self._missed else []
        drained.extend(self._queue)
        self._queue.clear()
        self._missed = 0
        return drained

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop receiving events; whatever is queued can still be drained."""
        if not self._closed:
            self._closed = True
            self._hub.unsubscribe(self)

    def __len__(self) -> int:
        return len(self._queue)


class EventHub:
    """Numbers events and hands each to every open subscription."""

    __slots__ = ("_seq", "subscriptions")

    def __init__(self) -> None:
        self._seq = 0
        self.subscriptions: list[Subscription] = []
        """Open subscriptions; while empty, events are only numbered (read it, do not change it)."""

    @property
    def listening(self) -> bool:
        """True when some subscription would receive an event."""
        return bool(self.subscriptions)

    @property
    def last_seq(self) -> int:
        """The sequence number of the latest event (0 before the first)."""
        return self._seq

    def subscribe(self, capacity: int = DEFAULT_CAPACITY) -> Subscription:
        """A new subscription that receives every event from now on."""
        subscription = Subscription(self, capacity)
        self.subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription``."""
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)

    def emit(
        self,
        kind: EventKind,
        now: float,
        bind_id: int | None = None,
        session_id: int | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> None:
        """Number an event and deliver it; with no subscriber nothing is built."""
        self._seq += 1
        if not self.subscriptions:
            return
        event = Event(
            self._seq, now, kind, bind_id, session_id, MappingProxyType(dict(detail or {}))
        )
        for subscription in self.subscriptions:
            subscription.push(event)
