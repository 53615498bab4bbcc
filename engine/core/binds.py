"""Binds: external endpoints the firewall holds for a session, and their one state machine.

A bind starts ``PENDING`` (R9): it exists, but traffic to it is discarded
(R12) until it is allowed at bind time (R11) or retroactively (R26). It ends
through ``TERMINATING`` to ``CLOSED`` and never comes back (R55).
:data:`TRANSITIONS` is the only place that says which moves are legal;
:meth:`Bind.move` raises :class:`IllegalTransition` for any other.

A bind carries its counters and the verdicts traffic to it gets, preallocated
so the hot path hands out existing objects. Containers only some binds need
(discard counts, recent discards, UDP peers) are created on first use: the
engine must hold 100,000 binds in under 1 KiB each.
"""

from __future__ import annotations

import enum
import uuid
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from engine.core.ipfilter import IpFilter
from engine.core.results import Flags, Transport
from engine.core.verdicts import (
    ACCEPT_REASONS,
    ALLOWED,
    NO_BIND,
    PENDING,
    TERMINATING,
    Verdict,
    VerdictAction,
)

if TYPE_CHECKING:
    from engine.core.sessions import Session

__all__ = [
    "RECENT_DISCARDS",
    "TRANSITIONS",
    "Bind",
    "BindState",
    "Endpoint",
    "IllegalTransition",
    "RecentDiscard",
]

Endpoint = tuple[str, int]
"""``(IP text, port)``; IPv6 without brackets; ``0.0.0.0`` / ``::`` stand for INADDR_ANY."""

RecentDiscard = tuple[float, Endpoint, str]
"""``(time, remote endpoint, reason)`` of one discarded attempt or datagram."""

RECENT_DISCARDS: Final = 32
"""How many recent discards a bind remembers; older ones survive only as counts."""

_NO_DISCARDS: Final[deque[RecentDiscard]] = deque(maxlen=0)
"""Shared by every bind that never discarded anything (it holds nothing, ever)."""


class BindState(enum.Enum):
    """Where a bind is in its life."""

    PENDING = "pending"
    ALLOWED = "allowed"
    TERMINATING = "terminating"
    CLOSED = "closed"

    @property
    def live(self) -> bool:
        """True until the bind is closed: a live bind holds its external address."""
        return self is not BindState.CLOSED


TRANSITIONS: Final[Mapping[BindState, frozenset[BindState]]] = {
    BindState.PENDING: frozenset({BindState.ALLOWED, BindState.TERMINATING}),
    BindState.ALLOWED: frozenset({BindState.TERMINATING}),
    BindState.TERMINATING: frozenset({BindState.CLOSED}),
    BindState.CLOSED: frozenset(),
}
"""The legal moves of a bind, and the only ones (R55: never back)."""


class IllegalTransition(Exception):
    """A bind was asked to make a move :data:`TRANSITIONS` does not allow (a bug in the caller)."""

    def __init__(self, bind_id: int, current: BindState, wanted: BindState) -> None:
        super().__init__(f"bind {bind_id}: illegal move {current.value} -> {wanted.value}")
        self.bind_id = bind_id
        self.current = current
        self.wanted = wanted


_STATE_VERDICT: Final[Mapping[BindState, tuple[VerdictAction, str]]] = {
    BindState.PENDING: (VerdictAction.DISCARD, PENDING),
    BindState.ALLOWED: (VerdictAction.ACCEPT, ALLOWED),
    BindState.TERMINATING: (VerdictAction.DISCARD, TERMINATING),
    BindState.CLOSED: (VerdictAction.DISCARD, NO_BIND),
}


class Bind:
    """One external endpoint held for a session, with its approval, filter and counters."""

    __slots__ = (
        "_dirty",
        "_discarded",
        "_recent",
        "_reported",
        "_verdicts",
        "accepted",
        "address",
        "allowed_at",
        "allowed_by",
        "client_addresses",
        "created",
        "first_seen",
        "flags",
        "id",
        "ip_filter",
        "last_seen",
        "peers",
        "protocol",
        "recent_senders",
        "session",
        "state",
        "transport",
        "verdict",
    )

    def __init__(
        self,
        bind_id: int,
        session: Session,
        transport: Transport,
        address: Endpoint,
        created: float,
        client_addresses: tuple[Endpoint, ...] = (),
    ) -> None:
        """A new ``PENDING`` bind of ``session`` on the external ``address``."""
        self.id = bind_id
        self.session = session
        self.transport = transport
        self.address = address
        self.created = created
        self.client_addresses = client_addresses
        self.state = BindState.PENDING
        self.protocol: uuid.UUID | None = None
        self.flags = Flags.NONE
        self.ip_filter: IpFilter | None = None
        self.allowed_by: str | None = None
        self.allowed_at: float | None = None
        self.accepted = 0
        self.first_seen: float | None = None
        self.last_seen: float | None = None
        self.peers: dict[Endpoint, float] | None = None
        """UDP remotes this bind sent to under a send-receive protocol, with their expiry."""
        self.recent_senders: dict[Endpoint, float] | None = None
        """UDP remotes whose datagrams this ``BIDIRECTIONAL`` bind accepted, with the time."""
        self.verdict = Verdict(*_STATE_VERDICT[BindState.PENDING], self)
        """The verdict the bind's state alone gives traffic (preallocated)."""
        self._discarded: dict[str, int] | None = None
        self._recent: deque[RecentDiscard] = _NO_DISCARDS
        self._reported: dict[str, int] | None = None
        self._dirty = False
        self._verdicts: dict[str, Verdict] | None = None

    def move(self, state: BindState) -> None:
        """Change state along :data:`TRANSITIONS`; raise :class:`IllegalTransition` otherwise."""
        if state not in TRANSITIONS[self.state]:
            raise IllegalTransition(self.id, self.state, state)
        self.state = state
        self.verdict = Verdict(*_STATE_VERDICT[state], self)
        if state is BindState.TERMINATING or state is BindState.CLOSED:
            self.peers = None
            self.recent_senders = None

    def allow(
        self,
        protocol: uuid.UUID,
        flags: Flags,
        ip_filter: IpFilter | None,
        actor: str,
        at: float,
    ) -> None:
        """Approve the bind for ``protocol`` (R26); ``ip_filter`` must already be the bind's own."""
        self.move(BindState.ALLOWED)
        self.protocol = protocol
        self.flags = flags
        self.ip_filter = ip_filter
        self.allowed_by = actor
        self.allowed_at = at

    @property
    def discarded(self) -> dict[str, int]:
        """Discarded attempts or datagrams so far, by reason (a copy)."""
        return dict(self._discarded) if self._discarded else {}

    @property
    def discarded_total(self) -> int:
        """How many attempts or datagrams to this bind were discarded in all."""
        return sum(self._discarded.values()) if self._discarded else 0

    @property
    def recent_discards(self) -> deque[RecentDiscard]:
        """The last :data:`RECENT_DISCARDS` discards, oldest first (a copy)."""
        return deque(self._recent, maxlen=RECENT_DISCARDS)

    def see(self, now: float) -> None:
        """Note that traffic reached the bind at ``now``."""
        if self.first_seen is None:
            self.first_seen = now
        self.last_seen = now

    def count_discard(self, reason: str, remote: Endpoint, now: float) -> bool:
        """Count one discard; True when it is the first since the last :meth:`take_interval`."""
        self.last_seen = now
        counts = self._discarded
        if counts is None:
            counts = self._discarded = {}
            self._recent = deque(maxlen=RECENT_DISCARDS)
            if self.first_seen is None:
                self.first_seen = now
        try:
            counts[reason] += 1
        except KeyError:
            counts[reason] = 1
        self._recent.append((now, remote, reason))
        if self._dirty:
            return False
        self._dirty = True
        return True

    def take_interval(self) -> dict[str, int]:
        """The discard counts since the previous call, and start a new interval."""
        self._dirty = False
        counts = self._discarded or {}
        reported = self._reported or {}
        self._reported = dict(counts)
        return {
            reason: count - reported.get(reason, 0)
            for reason, count in counts.items()
            if count != reported.get(reason, 0)
        }

    def verdict_for(self, reason: str) -> Verdict:
        """The verdict with ``reason`` for this bind, built once and then reused."""
        verdicts = self._verdicts
        if verdicts is None:
            verdicts = self._verdicts = {}
        verdict = verdicts.get(reason)
        if verdict is None:
            action = VerdictAction.ACCEPT if reason in ACCEPT_REASONS else VerdictAction.DISCARD
            verdict = verdicts[reason] = Verdict(action, reason, self)
        return verdict

    def __repr__(self) -> str:
        host, port = self.address
        return f"Bind({self.id}, {self.transport.label} {host}:{port}, {self.state.value})"
