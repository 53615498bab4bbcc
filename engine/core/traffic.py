"""The engine's hot path: verdicts for inbound attempts and datagrams on binds.

Each verdict is a dictionary lookup for the bind (exact address, then the
INADDR_ANY bind of the port), the IP filter's binary search on a memoised
address key, a few counters, and a verdict the bind already holds. Nothing
parses an address; the only objects made per call are the clock reading, a
discard's entry in the bind's short list of recent discards, the key of the
remembered outbound answer (``datagram_out``) and, while someone subscribes,
the one event per accepted TCP connection. :class:`Engine` inherits these
methods; they are here to keep each module about one thing.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.core.arguments import endpoint_text
from engine.core.binds import Bind, BindState, Endpoint
from engine.core.bindtable import BindTable
from engine.core.decisions import RuleContext
from engine.core.events import EventHub, EventKind, Subscription
from engine.core.flows import FlowBook
from engine.core.results import Flags, Transport
from engine.core.summaries import DiscardLedger
from engine.core.verdicts import (
    ALLOWED,
    BIDIRECTIONAL,
    IP_FILTER,
    NO_BIND_VERDICT,
    RESPONSE,
    RULES,
    Verdict,
    VerdictAction,
)
from rules.addresses import address_key
from rules.model import Direction

__all__ = ["TrafficJudge"]

_ACCEPT = VerdictAction.ACCEPT
_TCP = Transport.TCP
_UDP = Transport.UDP
_BIDIRECTIONAL = Flags.BIDIRECTIONAL


class TrafficJudge:
    """Verdicts for traffic to and from binds; the state is the :class:`Engine`'s."""

    _clock: Callable[[], float]
    _tables: dict[Transport, BindTable]
    _tcp: BindTable
    _udp: BindTable
    _ledger: DiscardLedger
    _events: EventHub
    _listeners: list[Subscription]
    _flows: FlowBook
    _rules: RuleContext

    def inbound(self, transport: Transport, local: Endpoint, remote: Endpoint) -> Verdict:
        """The verdict for a connection attempt from ``remote`` to the external ``local``.

        Pending binds discard (R12); allowed binds accept remotes their IP
        filter includes (R26-R29); an accepted TCP connection is one
        ``inbound-accepted`` event.
        """
        table = self._tcp if transport is _TCP else self._tables[transport]
        bind = table.exact.get(local)
        if bind is None:
            bind = (table.any6 if ":" in local[0] else table.any4).get(local[1])
            if bind is None:
                self._ledger.unbound += 1
                return NO_BIND_VERDICT
        now = self._clock()
        verdict = bind.verdict
        if verdict.action is _ACCEPT:
            ip_filter = bind.ip_filter
            if ip_filter is None or ip_filter.admits(address_key(remote[0])):
                bind.accepted += 1
                bind.last_seen = now
                if bind.first_seen is None:
                    bind.first_seen = now
                if self._listeners and transport is _TCP:
                    self._accepted_event(bind, remote, now)
                return verdict
            verdict = bind.verdict_for(IP_FILTER)
        if bind.count_discard(verdict.reason, remote, now):
            self._ledger.dirty.append(bind)
        return verdict

    def datagram_in(self, local: Endpoint, remote: Endpoint) -> Verdict:
        """The verdict for a datagram from ``remote`` to the external UDP address ``local``.

        A peer's reply is accepted whatever the approval ("response"); other
        datagrams follow the approval and the IP filter like ``inbound``.
        """
        table = self._udp
        bind = table.exact.get(local)
        if bind is None:
            bind = (table.any6 if ":" in local[0] else table.any4).get(local[1])
            if bind is None:
                self._ledger.unbound += 1
                return NO_BIND_VERDICT
        now = self._clock()
        verdict = bind.verdict
        peers = bind.peers
        if peers is not None:
            until = peers.get(remote)
            if until is not None and until > now:
                verdict = bind.verdict_for(RESPONSE)
        if verdict.action is _ACCEPT:
            ip_filter = bind.ip_filter
            if (
                verdict.reason is RESPONSE
                or ip_filter is None
                or ip_filter.admits(address_key(remote[0]))
            ):
                bind.see(now)
                bind.accepted += 1
                if bind.flags & _BIDIRECTIONAL:
                    self._flows.note_sender(bind, remote, now)
                return verdict
            verdict = bind.verdict_for(IP_FILTER)
        if bind.count_discard(verdict.reason, remote, now):
            self._ledger.dirty.append(bind)
        return verdict

    def datagram_out(self, local: Endpoint, remote: Endpoint) -> Verdict:
        """The verdict for a datagram the client sends from the UDP bind ``local`` to ``remote``.

        Accepted back to a recent sender of a ``BIDIRECTIONAL`` bind (R31);
        otherwise judged by outbound policy alone: a send or send-receive
        protocol on the remote port that the session may use.
        """
        table = self._udp
        bind = table.exact.get(local)
        if bind is None:
            bind = (table.any6 if ":" in local[0] else table.any4).get(local[1])
            if bind is None:
                self._ledger.unbound += 1
                return NO_BIND_VERDICT
        now = self._clock()
        if bind.state is BindState.TERMINATING:
            verdict = bind.verdict
        else:
            senders = bind.recent_senders
            if senders is not None and bind.flags & _BIDIRECTIONAL:
                until = senders.get(remote)
                if until is not None and until > now:
                    bind.accepted += 1
                    return bind.verdict_for(BIDIRECTIONAL)
            answer = self._rules.outbound(bind.session, _UDP, remote[1])
            if answer is not None and answer.allowed and answer.protocol is not None:
                if answer.protocol.primary.direction is Direction.SEND_RECEIVE:
                    self._flows.note_peer(bind, remote, now)
                bind.accepted += 1
                return bind.verdict_for(ALLOWED)
            verdict = bind.verdict_for(RULES)
        if bind.count_discard(verdict.reason, remote, now):
            self._ledger.dirty.append(bind)
        return verdict

    def _accepted_event(self, bind: Bind, remote: Endpoint, now: float) -> None:
        self._events.emit(
            EventKind.INBOUND_ACCEPTED,
            now,
            bind.id,
            bind.session.id,
            {"remote": endpoint_text(remote), "address": endpoint_text(bind.address)},
        )
