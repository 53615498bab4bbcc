"""The :class:`Engine`: every firewall decision, as a plain synchronous object.

The engine owns sessions, binds, the protocol registry, the packet-filter
openings and the event stream. It never touches a socket and never reads the
time itself (the clock is injected), so the data plane, ``fwx simulate`` and
the tests drive it the same way. Methods answer with values (``HResult``,
``Verdict``) and never raise for an expected outcome; only a broken
invariant (an illegal state transition) raises.

The session methods that approve binds live in :mod:`engine.core.calls`; the
hot path (``inbound``, ``datagram_in``, ``datagram_out``) in
:mod:`engine.core.traffic`, which this class inherits.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence

from engine.core import calls
from engine.core.arguments import as_transport, canonical_endpoint
from engine.core.binds import Bind, BindState, Endpoint
from engine.core.bindtable import DYNAMIC_PORTS
from engine.core.changes import RulesChange, diff_rules
from engine.core.decisions import RuleContext
from engine.core.events import DEFAULT_CAPACITY, EventHub, EventKind, Subscription
from engine.core.flows import FlowBook, FutureConnects, FutureFlags, Permission
from engine.core.ipfilter import IpFilter
from engine.core.lifecycle import BindBook
from engine.core.openings import Opening, OpeningTable
from engine.core.registry import ProtocolRegistry
from engine.core.results import HResult, Transport
from engine.core.sessions import Session, SessionFlags, SessionTable
from engine.core.summaries import DiscardLedger
from engine.core.traffic import TrafficJudge
from engine.core.verdicts import Verdict
from rules.model import ProtocolDefinition, RuleSet

__all__ = ["Engine"]


class Engine(TrafficJudge):
    """The firewall's sans-I/O core: sessions, binds, policy and verdicts (see engine-api)."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        clock: Callable[[], float] = time.monotonic,
        flow_window: float | None = None,
        summary_interval: float = 1.0,
    ) -> None:
        """An engine enforcing ``rules``.

        ``flow_window`` is how long UDP peers and recent senders last (None:
        the rules' ``service.udp_peer_timeout``, following reloads);
        ``summary_interval`` how often ``tick`` reports discard counts.
        """
        self._clock = clock
        self._registry = ProtocolRegistry(rules.protocols)
        self._rules = RuleContext(rules, self._registry)
        self._events = EventHub()
        self._sessions = SessionTable()
        self._book = BindBook(self._events, OpeningTable(rules.service.packet_filtering))
        self._futures = FutureConnects()
        self._window_setting = flow_window
        self._flows = FlowBook(
            rules.service.udp_peer_timeout if flow_window is None else flow_window
        )
        self._summary_interval = summary_interval
        self._ledger = DiscardLedger(clock())
        self._ctx = calls.Context(clock, self._rules, self._book, self._futures, self._events)
        self._tables = self._book.tables
        self._tcp = self._tables[Transport.TCP]
        self._udp = self._tables[Transport.UDP]
        self._listeners = self._events.subscriptions

    # -- what the engine holds -------------------------------------------------

    @property
    def rules(self) -> RuleSet:
        """The rule set in force."""
        return self._rules.ruleset

    @property
    def flow_window(self) -> float:
        """Seconds a UDP peer or recent sender stays one after its latest datagram."""
        return self._flows.window

    def protocols(self) -> list[ProtocolDefinition]:
        """Every protocol the engine knows: the rule file's, then those registered."""
        return self._registry.all()

    def sessions(self) -> list[Session]:
        """Live sessions, oldest first."""
        return sorted(self._sessions, key=lambda session: session.id)

    def binds(self) -> list[Bind]:
        """Live binds (not closed), oldest first."""
        return list(self._book)

    def get_bind(self, bind_id: int) -> Bind | None:
        """The live bind with ``bind_id``, or None once it is closed (or never was)."""
        return self._book.binds.get(bind_id)

    def find_bind(self, session: Session, transport: int, address: Endpoint) -> Bind | None:
        """The session's live bind on ``address``, as ``retroactive_allow_bind`` finds it.

        Only this session's binds are searched (R19); INADDR_ANY matches by
        transport and port (R20). None when nothing matches or the arguments
        are not a transport and an endpoint.
        """
        kind = as_transport(transport)
        endpoint = canonical_endpoint(address)
        if kind is None or endpoint is None:
            return None
        return self._book.find_for_session(session, kind, endpoint)

    def openings(self) -> list[Opening]:
        """The dynamic packet filter's openings, by bind id (R33, R90)."""
        return self._book.openings.all()

    def future_connects(self) -> list[Permission]:
        """``allow_future_connect`` permissions not yet used up or lapsed."""
        return self._futures.all()

    def subscribe(self, capacity: int = DEFAULT_CAPACITY) -> Subscription:
        """A bounded event stream: a slow reader loses its oldest events; the engine never waits."""
        return self._events.subscribe(capacity)

    # -- protocol registry -----------------------------------------------------

    def register_protocol(self, definition: ProtocolDefinition) -> HResult:
        """``RegisterProtocolForFilter``: ``S_OK``, or ``ALREADY_EXISTS`` changing nothing (R70)."""
        result = self._registry.register(definition)
        if result is HResult.S_OK:
            self._rules.forget()
            self._events.emit(
                EventKind.PROTOCOL_REGISTERED,
                self._clock(),
                detail={"protocol": str(definition.guid), "name": definition.name},
            )
        return result

    def unregister_protocol(self, guid: uuid.UUID) -> HResult:
        """Remove a protocol: ``S_OK`` or ``NOT_FOUND``; binds allowed for it stay allowed (R76)."""
        definition = self._registry.get(guid)
        result = self._registry.unregister(guid)
        if definition is not None and result is HResult.S_OK:
            self._rules.forget()
            self._events.emit(
                EventKind.PROTOCOL_UNREGISTERED,
                self._clock(),
                detail={"protocol": str(guid), "name": definition.name},
            )
        return result

    # -- sessions --------------------------------------------------------------

    def session(
        self,
        client: str,
        user: str | None = None,
        *,
        authenticated: bool = False,
        private: bool = False,
    ) -> Session:
        """The session of (client IP, user), created on first use (R3, R4).

        Raises ValueError when ``client`` is not an IP address.
        """
        found = self._sessions.find(client, user)
        if found is not None:
            return found
        flags = SessionFlags.NONE
        if user is None:
            flags |= SessionFlags.NAT
        if authenticated:
            flags |= SessionFlags.AUTHENTICATED
        if private:
            flags |= SessionFlags.PRIVATE
        now = self._clock()
        session = self._sessions.create(client, user, flags, now)
        self._events.emit(
            EventKind.SESSION_CREATED,
            now,
            session_id=session.id,
            detail={"client": session.client, "user": user, "flags": _flag_names(flags)},
        )
        return session

    def end_session(self, session: Session) -> None:
        """End ``session``: its binds go TERMINATING then CLOSED, it is flagged TERMINATED (R7)."""
        if session.terminated:
            return
        now = self._clock()
        for bind in list(session.binds.values()):
            self._book.close(bind, now, "session-ended")
        self._futures.drop_session(session.id)
        self._sessions.end(session)
        self._events.emit(EventKind.SESSION_ENDED, now, session_id=session.id)

    # -- binds and the session methods ------------------------------------------

    def bind(
        self, session: Session, transport: Transport, address: Endpoint
    ) -> tuple[HResult, Bind | None]:
        """The client's own bind (SOCKS ``BIND`` / ``UDP ASSOCIATE``); see engine-api.

        Never refused for rule reasons (R9, R10); allowed at once only by R11.
        Port 0 picks a free port. Refused with ``FWX_E_TERMINATING`` for an
        ended session, ``FWX_E_OUT_OF_RESOURCES`` at the per-session cap or
        with no port left, ``E_INVALIDARG`` for a bad or taken address.
        """
        kind = as_transport(transport)
        endpoint = canonical_endpoint(address)
        if kind is None or endpoint is None:
            return HResult.E_INVALIDARG, None
        if session.terminated:
            return HResult.FWX_E_TERMINATING, None
        service = self._rules.ruleset.service
        if len(session.binds) >= service.max_binds_per_session:
            return HResult.FWX_E_OUT_OF_RESOURCES, None
        result, placed = self._book.place(kind, endpoint, service.bind_ports or DYNAMIC_PORTS)
        if placed is None:
            return result, None
        now = self._clock()
        bind = self._book.create(session, kind, placed, now)
        answer = self._rules.at_bind_time(session, kind, placed[1])
        if answer is not None and answer.allowed:
            calls.allow_at_bind_time(self._ctx, bind, answer, now)
        return HResult.S_OK, bind

    def retroactive_allow_bind(
        self,
        session: Session,
        protocol: int,
        address: Endpoint,
        address_length: int | None,
        protocol_guid: uuid.UUID | None,
        flags: int,
        ip_filter: IpFilter | None,
        *,
        actor: str = "session",
    ) -> HResult:
        """``IFWXSession::RetroactiveAllowBind`` (reference §4): result codes in R34's order."""
        return calls.retroactive_allow_bind(
            self._ctx,
            calls.AllowRequest(
                session, protocol, address, address_length, protocol_guid, flags, ip_filter, actor
            ),
        )

    def bind_for_client(
        self,
        session: Session,
        transport: Transport,
        client_addresses: Sequence[Endpoint],
        proxy_address: Endpoint,
        protocol_guid: uuid.UUID,
        flags: int,
        ip_filter: IpFilter | None,
        *,
        actor: str,
    ) -> tuple[HResult, Bind | None]:
        """``IFWXSession::BindForClient`` (R37-R45): a new bind, allowed from the start."""
        return calls.bind_for_client(
            self._ctx,
            calls.ClientBindRequest(
                session,
                transport,
                client_addresses,
                proxy_address,
                protocol_guid,
                flags,
                ip_filter,
                actor,
            ),
        )

    def allow_future_connect(
        self,
        session: Session,
        address: Endpoint,
        transport: Transport,
        protocol_guid: uuid.UUID,
        flags: FutureFlags = FutureFlags.TIMEOUT,
        *,
        actor: str,
    ) -> HResult:
        """``IFWXSession::AllowFutureConnect`` (R46-R48): pre-authorise an outbound connection."""
        return calls.allow_future_connect(
            self._ctx, session, address, transport, protocol_guid, flags, actor
        )

    def connect(
        self, session: Session, destination: Endpoint, transport: Transport = Transport.TCP
    ) -> Verdict:
        """The verdict for an outbound primary connection (SOCKS ``CONNECT``)."""
        return calls.connect(self._ctx, session, destination, transport)

    def terminate(self, bind: Bind) -> HResult:
        """Start ending ``bind``: its opening goes; ``FWX_E_TERMINATING`` if it already was."""
        return self._book.terminate(bind, self._clock(), "terminate")

    def close(self, bind: Bind) -> HResult:
        """End ``bind`` for good; later lookups answer ``NOT_FOUND`` (R103)."""
        return self._book.close(bind, self._clock(), "close")

    # -- time and rules ------------------------------------------------------------

    def tick(self) -> None:
        """Time-based work: pending time-out (never an approval), lapses, expiries, summaries."""
        now = self._clock()
        timeout = self._rules.ruleset.service.pending_bind_timeout
        for bind in self._book.overdue(now, timeout):
            self._events.emit(
                EventKind.BIND_EXPIRED,
                now,
                bind.id,
                bind.session.id,
                {"pending_for": now - bind.created, "timeout": timeout},
            )
            self._book.close(bind, now, "timeout")
        self._futures.expire(now)
        self._flows.expire(now)
        if self._ledger.due(now, self._summary_interval):
            self._ledger.flush(self._events, now)

    def replace_rules(self, ruleset: RuleSet) -> RulesChange:
        """Put new rules in force for future checks; live binds keep their state (R85).

        The registry takes the new file's protocols; a run-time registration
        whose GUID the file now defines gives way to the file's definition.
        """
        old = self._rules.ruleset
        displaced = self._registry.replace_rule_protocols(ruleset.protocols)
        self._rules.replace(ruleset)
        if self._window_setting is None:
            self._flows.window = ruleset.service.udp_peer_timeout
        openings = self._book.openings
        if openings.enabled != ruleset.service.packet_filtering:
            openings.switch(ruleset.service.packet_filtering, self._book)
        would_differ = [
            bind.id for bind in self._book.pending.values() if self._bind_time_allows(bind)
        ]
        change = diff_rules(old, ruleset, would_differ)
        self._events.emit(
            EventKind.RULES_REPLACED,
            self._clock(),
            detail={
                "summary": change.summary(),
                "would_differ": list(would_differ),
                "displaced_registrations": [proto.name for proto in displaced],
            },
        )
        return change

    def recheck(self, bind_ids: Iterable[int]) -> list[HResult]:
        """Apply the bind-time decision (R11) to pending binds, one result per id.

        ``S_OK`` allowed now; ``S_FALSE`` already allowed; ``FWX_E_PROTOCOL_RULES_DENIED``
        still not; ``FWX_E_TERMINATING`` ending; ``NOT_FOUND`` no such live bind.
        """
        return [self._recheck(bind_id) for bind_id in bind_ids]

    # -- helpers ---------------------------------------------------------------------

    def _recheck(self, bind_id: int) -> HResult:
        bind = self._book.binds.get(bind_id)
        if bind is None:
            return HResult.NOT_FOUND
        if bind.state is BindState.TERMINATING:
            return HResult.FWX_E_TERMINATING
        if bind.state is BindState.ALLOWED:
            return HResult.S_FALSE
        answer = self._rules.at_bind_time(bind.session, bind.transport, bind.address[1])
        if answer is None or not answer.allowed:
            return HResult.FWX_E_PROTOCOL_RULES_DENIED
        calls.allow_at_bind_time(self._ctx, bind, answer, self._clock())
        return HResult.S_OK

    def _bind_time_allows(self, bind: Bind) -> bool:
        answer = self._rules.at_bind_time(bind.session, bind.transport, bind.address[1])
        return answer is not None and answer.allowed


def _flag_names(flags: SessionFlags) -> list[str]:
    return [flag.name.lower() for flag in SessionFlags if flag and flag in flags and flag.name]
