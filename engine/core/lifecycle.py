"""The life of binds: creation, approval, termination and closing, with their events.

:class:`BindBook` owns every live bind and keeps the indexes in step: the
per-transport address tables the hot path reads, the session's bind list,
the pending list the time-out walks, and the packet-filter openings, which
exist exactly while a bind is allowed (R33, R90). State changes go through
:meth:`Bind.move`, so an illegal one raises instead of being ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from engine.core.arguments import endpoint_text
from engine.core.binds import Bind, BindState, Endpoint
from engine.core.bindtable import BindTable, is_any
from engine.core.events import EventHub, EventKind
from engine.core.ipfilter import IpFilter
from engine.core.openings import OpeningTable
from engine.core.results import Flags, HResult, Transport
from engine.core.sessions import Session

__all__ = ["BindBook"]


class BindBook:
    """Every live bind, indexed by id, address, session and age."""

    __slots__ = ("_events", "_next_id", "binds", "openings", "pending", "tables")

    def __init__(self, events: EventHub, openings: OpeningTable) -> None:
        self._events = events
        self._next_id = 1
        self.openings = openings
        self.binds: dict[int, Bind] = {}
        """Live binds by id."""
        self.pending: dict[int, Bind] = {}
        """Pending binds by id, oldest first (the order the time-out walks)."""
        self.tables: dict[Transport, BindTable] = {
            Transport.TCP: BindTable(),
            Transport.UDP: BindTable(),
        }

    def place(
        self, transport: Transport, address: Endpoint, ports: tuple[int, int]
    ) -> tuple[HResult, Endpoint | None]:
        """Where a new bind on ``address`` goes: the address, or a free port in ``ports`` for 0."""
        ip, port = address
        table = self.tables[transport]
        if port == 0:
            chosen = table.free_port(ip, *ports)
            if chosen is None:
                return HResult.FWX_E_OUT_OF_RESOURCES, None
            return HResult.S_OK, (ip, chosen)
        if not table.is_free(ip, port):
            return HResult.E_INVALIDARG, None
        return HResult.S_OK, address

    def create(
        self,
        session: Session,
        transport: Transport,
        address: Endpoint,
        now: float,
        client_addresses: tuple[Endpoint, ...] = (),
    ) -> Bind:
        """A new pending bind on ``address`` (already placed) for ``session`` (R9)."""
        bind = Bind(self._next_id, session, transport, address, now, client_addresses)
        self._next_id += 1
        self.binds[bind.id] = bind
        self.pending[bind.id] = bind
        session.binds[bind.id] = bind
        self.tables[transport].add(bind)
        detail: dict[str, object] | None = None
        if self._events.listening:
            detail = {
                "transport": transport.label,
                "address": endpoint_text(address),
                "client": session.client,
                "user": session.user,
                "client_addresses": [endpoint_text(each) for each in client_addresses],
            }
        self._events.emit(EventKind.BIND_CREATED, now, bind.id, session.id, detail)
        return bind

    def allow(
        self,
        bind: Bind,
        protocol: uuid.UUID,
        flags: Flags,
        ip_filter: IpFilter | None,
        actor: str,
        now: float,
        protocol_name: str,
        decision: str,
    ) -> None:
        """Approve the pending ``bind`` (R26): it gets its opening and traffic gets through."""
        bind.allow(protocol, flags, ip_filter, actor, now)
        del self.pending[bind.id]
        self.openings.open(bind)
        self._events.emit(
            EventKind.BIND_ALLOWED,
            now,
            bind.id,
            bind.session.id,
            {
                "protocol": str(protocol),
                "protocol_name": protocol_name,
                "actor": actor,
                "flags": int(flags),
                "ip_filter": "any" if ip_filter is None else ip_filter.summary(),
                "decision": decision,
            },
        )

    def terminate(self, bind: Bind, now: float, actor: str) -> HResult:
        """Start ending ``bind``: ``FWX_E_TERMINATING`` if it already is, ``NOT_FOUND`` if gone."""
        if bind.state is BindState.TERMINATING:
            return HResult.FWX_E_TERMINATING
        if bind.state is BindState.CLOSED:
            return HResult.NOT_FOUND
        previous = bind.state
        bind.move(BindState.TERMINATING)
        self.pending.pop(bind.id, None)
        self.openings.close(bind.id)
        self._events.emit(
            EventKind.BIND_TERMINATING,
            now,
            bind.id,
            bind.session.id,
            {"actor": actor, "was": previous.value},
        )
        return HResult.S_OK

    def close(self, bind: Bind, now: float, actor: str) -> HResult:
        """End ``bind`` for good (through ``TERMINATING``); ``NOT_FOUND`` if already closed."""
        if bind.state is BindState.CLOSED:
            return HResult.NOT_FOUND
        if bind.state is not BindState.TERMINATING:
            self.terminate(bind, now, actor)
        bind.move(BindState.CLOSED)
        del self.binds[bind.id]
        del bind.session.binds[bind.id]
        self.tables[bind.transport].remove(bind)
        self._events.emit(
            EventKind.BIND_CLOSED,
            now,
            bind.id,
            bind.session.id,
            {
                "actor": actor,
                "accepted": bind.accepted,
                "discarded": bind.discarded_total,
            },
        )
        return HResult.S_OK

    def overdue(self, now: float, timeout: float) -> list[Bind]:
        """Pending binds created ``timeout`` seconds ago or more, oldest first."""
        overdue = []
        for bind in self.pending.values():
            if now - bind.created < timeout:
                break
            overdue.append(bind)
        return overdue

    def find_for_session(
        self, session: Session, transport: Transport, address: Endpoint
    ) -> Bind | None:
        """The session's live bind on ``address`` (R17, R19); INADDR_ANY matches by port (R20).

        A bind on INADDR_ANY also matches a concrete address with its port.
        When several binds match, a pending or allowed one is preferred to a
        terminating one, then the oldest.
        """
        ip, port = address
        fallback: Bind | None = None
        for bind in session.binds.values():
            bind_ip, bind_port = bind.address
            if bind.transport is not transport or bind_port != port:
                continue
            if bind_ip != ip and not is_any(ip) and not is_any(bind_ip):
                continue
            if bind.state is not BindState.TERMINATING:
                return bind
            fallback = fallback or bind
        return fallback

    def __iter__(self) -> Iterator[Bind]:
        return iter(list(self.binds.values()))

    def __len__(self) -> int:
        return len(self.binds)
