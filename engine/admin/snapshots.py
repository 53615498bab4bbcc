"""Snapshot values: what the console sees of the engine, as plain frozen dataclasses.

The console never holds live engine objects: every listing is copied into
these values on the service's own event loop. They hold only JSON-able data
(strings, numbers, booleans, None, tuples and other snapshots), so the same
values can travel as JSON lines over the admin socket
(:mod:`engine.admin.protocol`). Times are wall-clock
seconds since the epoch; :class:`Timebase` turns the engine's monotonic clock
into them, so ages stay right on the other side of a socket.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from engine.core.results import Flags, HResult

__all__ = [
    "BindSnapshot",
    "DiscardSnapshot",
    "EventBatch",
    "EventSnapshot",
    "IpFilterSetSnapshot",
    "IpFilterSpec",
    "OpeningSnapshot",
    "Outcome",
    "ProtocolSnapshot",
    "RecheckResult",
    "ReloadOutcome",
    "RuleSnapshot",
    "ServiceInfo",
    "SessionSnapshot",
    "StatusSnapshot",
    "Timebase",
    "endpoint_text",
    "flag_names",
]


@dataclass(frozen=True, slots=True)
class Timebase:
    """One reading of both clocks, to turn engine times into wall-clock times."""

    engine_now: float
    wall_now: float

    def wall(self, engine_time: float) -> float:
        """The wall-clock time of ``engine_time``."""
        return self.wall_now - (self.engine_now - engine_time)

    def wall_or_none(self, engine_time: float | None) -> float | None:
        """:meth:`wall`, passing None through."""
        return None if engine_time is None else self.wall(engine_time)


def endpoint_text(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@functools.cache
def flag_names(flags: int) -> tuple[str, ...]:
    """The names of the bits set in ``flags`` (``BIDIRECTIONAL``, ...), unknown bits in hex."""
    names = [flag.name for flag in Flags if flag.value and flags & flag.value and flag.name]
    unknown = flags & ~sum(flag.value for flag in Flags)
    if unknown:
        names.append(f"0x{unknown:X}")
    return tuple(names)


@dataclass(frozen=True, slots=True)
class DiscardSnapshot:
    """One recent discarded attempt or datagram: when, from where, why."""

    time: float
    remote: str
    reason: str


@dataclass(frozen=True, slots=True)
class BindSnapshot:
    """A bind as the console shows it.

    ``ip_filter`` is None when the bind is unrestricted, an empty tuple when
    its filter blocks every remote address, else the filter's ranges.
    ``discarded`` holds ``(reason, count)`` pairs, largest first; ``recent``
    the last few discards, oldest first.
    """

    id: int
    session_id: int
    client: str
    user: str | None
    transport: str
    host: str
    port: int
    state: str
    protocol: str | None
    protocol_name: str | None
    flags: int
    ip_filter: tuple[str, ...] | None
    accepted: int
    discarded: tuple[tuple[str, int], ...]
    recent: tuple[DiscardSnapshot, ...]
    allowed_by: str | None
    allowed_at: float | None
    created: float
    last_seen: float | None

    @property
    def address(self) -> str:
        """The external address as text (``127.0.0.1:40001``)."""
        return endpoint_text(self.host, self.port)

    @property
    def who(self) -> str:
        """``user@client``, or the client alone for an anonymous session."""
        return self.client if self.user is None else f"{self.user}@{self.client}"

    @property
    def discarded_total(self) -> int:
        """All discards of the bind, whatever the reason."""
        return sum(count for _, count in self.discarded)

    @property
    def flag_names(self) -> tuple[str, ...]:
        """Names of the bind's flags."""
        return flag_names(self.flags)

    @property
    def ip_filter_summary(self) -> str:
        """One short phrase for the IP filter: ``any``, ``block all``, ``10.0.0.0/8 +2 more``."""
        if self.ip_filter is None:
            return "any"
        if not self.ip_filter:
            return "block all"
        first, rest = self.ip_filter[0], len(self.ip_filter) - 1
        return first if not rest else f"{first} +{rest} more"


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """A session: one client identity and how many binds it holds."""

    id: int
    client: str
    user: str | None
    flags: tuple[str, ...]
    created: float
    binds: int
    pending: int

    @property
    def who(self) -> str:
        """``user@client``, or the client alone for an anonymous session."""
        return self.client if self.user is None else f"{self.user}@{self.client}"


@dataclass(frozen=True, slots=True)
class ProtocolSnapshot:
    """A protocol the engine knows; ``source`` is ``rules`` (the file) or ``registered``.

    ``inbound`` lists the ``(transport, low port, high port)`` of its
    connections that remote hosts open: the binds it is meant for.
    """

    guid: str
    name: str
    primary: str
    secondary: tuple[str, ...]
    filter: str | None
    description: str
    source: str
    inbound: tuple[tuple[str, int, int], ...] = ()

    def covers(self, transport: str, port: int) -> int | None:
        """How many ports the narrowest inbound connection on ``transport`` ``port`` spans.

        None when no connection of this protocol accepts inbound there.
        """
        spans = [
            high - low + 1
            for kind, low, high in self.inbound
            if kind == transport and low <= port <= high
        ]
        return min(spans, default=None)


@dataclass(frozen=True, slots=True)
class RuleSnapshot:
    """A protocol rule with its place in evaluation and what it can decide."""

    position: int
    name: str
    action: str
    protocols: tuple[str, ...]
    users: tuple[str, ...]
    clients: tuple[str, ...]
    enabled: bool
    except_protocols: bool
    description: str
    role: str


@dataclass(frozen=True, slots=True)
class IpFilterSetSnapshot:
    """A named IP filter set of the rule file."""

    name: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class OpeningSnapshot:
    """A dynamic packet-filter opening; ``remote`` None means any remote address."""

    bind_id: int
    transport: str
    host: str
    port: int
    remote: tuple[str, ...] | None

    @property
    def address(self) -> str:
        """The opened external address as text."""
        return endpoint_text(self.host, self.port)


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    """One engine event; ``detail`` holds ``(key, text)`` pairs in the engine's order."""

    seq: int
    time: float
    kind: str
    bind_id: int | None
    session_id: int | None
    detail: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        """The detail as ``key=value`` words."""
        return " ".join(f"{key}={value}" for key, value in self.detail)


@dataclass(frozen=True, slots=True)
class EventBatch:
    """What changed during one interval, delivered to subscribers at most ~10 times a second.

    ``binds`` and ``sessions`` hold fresh snapshots of what changed (newest
    wins), ``removed_*`` the ids that are gone. ``missed`` counts events the
    engine dropped because the reader was slow: state may then be stale, and
    a reader that sees it should list everything again. ``events`` keeps the
    newest events only when batches pile up, but ``kinds`` names every kind
    that occurred. ``discards`` is how many discards the engine summarised.
    """

    time: float
    events: tuple[EventSnapshot, ...] = ()
    missed: int = 0
    binds: tuple[BindSnapshot, ...] = ()
    removed_binds: tuple[int, ...] = ()
    sessions: tuple[SessionSnapshot, ...] = ()
    removed_sessions: tuple[int, ...] = ()
    discards: int = 0
    kinds: tuple[str, ...] = ()

    def merge(self, later: EventBatch, keep_events: int) -> EventBatch:
        """One batch saying what ``self`` then ``later`` say; at most ``keep_events`` events."""
        events = (self.events + later.events)[-keep_events:]
        removed_binds = set(self.removed_binds) | set(later.removed_binds)
        removed_sessions = set(self.removed_sessions) | set(later.removed_sessions)
        return EventBatch(
            time=later.time,
            events=events,
            missed=self.missed + later.missed,
            binds=_newest(self.binds, later.binds, removed_binds),
            removed_binds=tuple(sorted(removed_binds)),
            sessions=_newest(self.sessions, later.sessions, removed_sessions),
            removed_sessions=tuple(sorted(removed_sessions)),
            discards=self.discards + later.discards,
            kinds=tuple(sorted(set(self.kinds) | set(later.kinds))),
        )


_Keyed = TypeVar("_Keyed", "BindSnapshot", "SessionSnapshot")


def _newest(
    older: Iterable[_Keyed], newer: Iterable[_Keyed], removed: set[int]
) -> tuple[_Keyed, ...]:
    by_id = {item.id: item for item in older}
    by_id.update((item.id, item) for item in newer)
    return tuple(item for key, item in by_id.items() if key not in removed)


@dataclass(frozen=True, slots=True)
class IpFilterSpec:
    """The IP filter an operator picks for a retroactive allow.

    ``mode`` is ``none`` (no filter: any remote), ``block`` (an empty
    filter: no remote), ``set`` (the rule file's named set ``set_name``) or
    ``ranges`` (``include`` minus ``exclude``: addresses, CIDRs, ``a-b``).
    """

    mode: str = "none"
    set_name: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a change request: a result code and, when refused, every reason."""

    result: HResult
    problems: tuple[str, ...] = ()
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the change was made (or there was nothing to do)."""
        return self.result.succeeded


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """Where the service runs, for the console's header."""

    listen: str
    external: str
    rules_path: str
    packet_filtering: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """The answer to a rules reload: what changed, or why nothing did.

    ``would_differ`` holds the pending binds whose bind-time decision the
    new rules would now allow; the reload never changes them by itself (R85):
    re-checking them is the operator's explicit next step.
    """

    result: HResult
    problems: tuple[str, ...] = ()
    message: str = ""
    protocols_added: tuple[str, ...] = ()
    protocols_removed: tuple[str, ...] = ()
    protocols_changed: tuple[str, ...] = ()
    rules_added: tuple[str, ...] = ()
    rules_removed: tuple[str, ...] = ()
    rules_changed: tuple[str, ...] = ()
    service_changed: bool = False
    other_changed: bool = False
    would_differ: tuple[BindSnapshot, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the new rules are in force (or there was nothing to change)."""
        return self.result.succeeded


@dataclass(frozen=True, slots=True)
class RecheckResult:
    """The bind-time decision applied again to one pending bind."""

    bind_id: int
    result: HResult


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """The service at a glance: where it runs, since when, and its totals."""

    version: str
    pid: int
    started: float
    listen: str
    external: str
    rules_path: str
    packet_filtering: bool
    admin_socket: str | None
    audit_path: str | None
    audit_error: str | None
    connections: int
    sessions: int
    binds: int
    pending: int
    allowed: int
    terminating: int
    openings: int
    protocols: int
    rules: int
    accepted: int
    discarded: int
