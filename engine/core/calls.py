"""The session methods that grant access: ``RetroactiveAllowBind``, ``BindForClient``,
``AllowFutureConnect``, and the verdict for outbound connections.

Each checks its arguments before looking at any state, then follows the
reference's order: for ``RetroactiveAllowBind`` validation (R21, R22) ->
lookup in the caller's session (R17-R20) -> terminating (R23) -> already
allowed (R24) -> policy (R25) -> allow (R26-R33), as R34 fixes it. A call
that does not make a bind allowed emits ``allow-refused`` with its result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.core.arguments import (
    as_transport,
    bind_flags,
    canonical_endpoint,
    client_endpoints,
    endpoint_text,
    length_fits,
)
from engine.core.binds import Bind, BindState, Endpoint
from engine.core.bindtable import DYNAMIC_PORTS
from engine.core.decisions import Answer, RuleContext
from engine.core.events import EventHub, EventKind
from engine.core.flows import (
    FUTURE_CONNECT_TIMEOUT,
    KNOWN_FUTURE_FLAGS,
    FutureConnects,
    FutureFlags,
    Permission,
)
from engine.core.ipfilter import IpFilter
from engine.core.lifecycle import BindBook
from engine.core.results import Flags, HResult, Transport
from engine.core.sessions import Session
from engine.core.verdicts import ALLOWED, FUTURE_CONNECT, RULES, TERMINATING, Verdict, VerdictAction
from rules.model import Direction, ProtocolDefinition

__all__ = [
    "AllowRequest",
    "ClientBindRequest",
    "Context",
    "allow_at_bind_time",
    "allow_future_connect",
    "bind_for_client",
    "connect",
    "retroactive_allow_bind",
]

_Outcome = tuple[HResult, Bind | None, str]


@dataclass(frozen=True, slots=True)
class Context:
    """The parts of the engine the session methods work with."""

    clock: Callable[[], float]
    rules: RuleContext
    book: BindBook
    futures: FutureConnects
    events: EventHub


@dataclass(frozen=True, slots=True)
class AllowRequest:
    """The arguments of ``RetroactiveAllowBind`` (reference §4.2), plus who is calling."""

    session: Session
    protocol: int
    address: Endpoint
    address_length: int | None
    protocol_guid: uuid.UUID | None
    flags: int
    ip_filter: IpFilter | None
    actor: str


@dataclass(frozen=True, slots=True)
class ClientBindRequest:
    """The arguments of ``BindForClient`` that fwx uses (reference §5.2), plus the caller."""

    session: Session
    transport: Transport
    client_addresses: Sequence[Endpoint]
    proxy_address: Endpoint
    protocol_guid: uuid.UUID
    flags: int
    ip_filter: IpFilter | None
    actor: str


def retroactive_allow_bind(ctx: Context, request: AllowRequest) -> HResult:
    """Allow an existing bind of the session, retroactively (R17-R36)."""
    now = ctx.clock()
    result, bind, reason = _retroactive_allow(ctx, request, now)
    if result is not HResult.S_OK:
        _refused(
            ctx,
            "retroactive_allow_bind",
            request.session,
            bind,
            request.actor,
            now,
            result,
            address=_address_text(request.address),
            reason=reason,
        )
    return result


def _retroactive_allow(ctx: Context, request: AllowRequest, now: float) -> _Outcome:
    session = request.session
    transport = as_transport(request.protocol)
    endpoint = canonical_endpoint(request.address)
    if transport is None:
        return _invalid("the protocol is neither TCP (6) nor UDP (17)")
    if endpoint is None:
        return _invalid("the address is not an IP address and port")
    if endpoint[1] == 0:
        return _invalid("the port must not be 0")
    if not length_fits(request.address[0], request.address_length):
        return _invalid(f"address length {request.address_length} does not fit the address family")
    flags = bind_flags(request.flags, transport)
    if flags is None:
        return _invalid(f"flags {request.flags!r} have unknown bits or UDP-only flags on TCP")
    if session.terminated:
        return HResult.FWX_E_TERMINATING, None, "the session has ended"
    bind = ctx.book.find_for_session(session, transport, endpoint)
    if bind is None:
        return HResult.NOT_FOUND, None, "this session has no such bind"
    if bind.state is BindState.TERMINATING:
        return HResult.FWX_E_TERMINATING, bind, "the bind is terminating"
    if bind.state is BindState.ALLOWED:
        return HResult.S_FALSE, bind, "the bind was already allowed"
    answer = ctx.rules.decide(session, request.protocol_guid)
    if not answer.allowed or answer.protocol is None:
        return HResult.FWX_E_PROTOCOL_RULES_DENIED, bind, answer.text
    _allow(ctx, bind, answer.protocol, answer.text, flags, request.ip_filter, request.actor, now)
    return HResult.S_OK, bind, answer.text


def bind_for_client(ctx: Context, request: ClientBindRequest) -> tuple[HResult, Bind | None]:
    """Create a bind for a client that did not make one, allowed from the start (R37-R45)."""
    now = ctx.clock()
    result, bind, reason = _bind_for_client(ctx, request, now)
    if result is not HResult.S_OK:
        _refused(
            ctx,
            "bind_for_client",
            request.session,
            None,
            request.actor,
            now,
            result,
            address=_address_text(request.proxy_address),
            reason=reason,
        )
    return result, bind


def _bind_for_client(ctx: Context, request: ClientBindRequest, now: float) -> _Outcome:
    session = request.session
    transport = as_transport(request.transport)
    proxy = canonical_endpoint(request.proxy_address)
    clients = client_endpoints(request.client_addresses)
    if transport is None:
        return _invalid("the transport is neither TCP (6) nor UDP (17)")
    if proxy is None:
        return _invalid("the proxy address is not an IP address and port")
    if clients is None:
        return _invalid("the client addresses are missing or invalid")
    flags = bind_flags(request.flags, transport)
    if flags is None:
        return _invalid(f"flags {request.flags!r} have unknown bits or UDP-only flags on TCP")
    if session.terminated:
        return HResult.FWX_E_TERMINATING, None, "the session has ended"
    answer = ctx.rules.decide(session, request.protocol_guid)
    if not answer.allowed or answer.protocol is None:
        return HResult.FWX_E_PROTOCOL_RULES_DENIED, None, answer.text
    service = ctx.rules.ruleset.service
    if len(session.binds) >= service.max_binds_per_session:
        return HResult.FWX_E_OUT_OF_RESOURCES, None, "the session has too many binds"
    result, placed = ctx.book.place(transport, proxy, service.bind_ports or DYNAMIC_PORTS)
    if placed is None:
        return result, None, "the proxy address is taken or no port is free"
    bind = ctx.book.create(session, transport, placed, now, clients)
    _allow(ctx, bind, answer.protocol, answer.text, flags, request.ip_filter, request.actor, now)
    return HResult.S_OK, bind, answer.text


def _allow(
    ctx: Context,
    bind: Bind,
    protocol: ProtocolDefinition,
    decision: str,
    flags: Flags,
    ip_filter: IpFilter | None,
    actor: str,
    now: float,
) -> None:
    """Allow ``bind`` for ``protocol`` with the engine's own copy of ``ip_filter`` (R30)."""
    own_filter = None if ip_filter is None else ip_filter.clone()
    ctx.book.allow(bind, protocol.guid, flags, own_filter, actor, now, protocol.name, decision)


def allow_at_bind_time(ctx: Context, bind: Bind, answer: Answer, now: float) -> None:
    """R11: allow ``bind`` for the recognised protocol of ``answer`` (no IP filter).

    A ``receive-send`` protocol lets the client answer whoever spoke first, so
    such a bind is allowed ``BIDIRECTIONAL``.
    """
    protocol = answer.protocol
    if protocol is None:
        raise ValueError("a bind-time approval needs the protocol that recognised the bind")
    flags = Flags.NONE
    if protocol.primary.direction is Direction.RECEIVE_SEND:
        flags = Flags.BIDIRECTIONAL
    actor = f"rules:{answer.rule}" if answer.rule else "rules"
    _allow(ctx, bind, protocol, answer.text, flags, None, actor, now)


def allow_future_connect(
    ctx: Context,
    session: Session,
    address: Endpoint,
    transport: Transport,
    protocol_guid: uuid.UUID,
    flags: int,
    actor: str,
) -> HResult:
    """Let ``session`` connect to ``address`` later, whatever the rules say of its port (R46)."""
    now = ctx.clock()
    kind = as_transport(transport)
    destination = canonical_endpoint(address)
    if (
        kind is None
        or destination is None
        or destination[1] == 0
        or not isinstance(flags, int)
        or flags < 0
        or flags & ~int(KNOWN_FUTURE_FLAGS)
    ):
        return HResult.E_INVALIDARG
    if session.terminated:
        return HResult.FWX_E_TERMINATING
    answer = ctx.rules.decide(session, protocol_guid)
    if not answer.allowed or answer.protocol is None:
        return HResult.FWX_E_PROTOCOL_RULES_DENIED
    wanted = FutureFlags(flags)
    expires = now + FUTURE_CONNECT_TIMEOUT if wanted & FutureFlags.TIMEOUT else None
    permission = Permission(
        session.id, session.client_key, kind, destination, answer.protocol.guid, wanted, now,
        expires, actor,
    )  # fmt: skip
    ctx.futures.grant(permission)
    ctx.events.emit(
        EventKind.FUTURE_CONNECT_GRANTED,
        now,
        session_id=session.id,
        detail={
            "destination": endpoint_text(destination),
            "transport": kind.label,
            "protocol": answer.protocol.name,
            "flags": int(wanted),
            "expires": expires,
            "actor": actor,
        },
    )
    return HResult.S_OK


def connect(ctx: Context, session: Session, destination: Endpoint, transport: Transport) -> Verdict:
    """The verdict for an outbound primary connection: a permission, else the protocol rules."""
    now = ctx.clock()
    kind = as_transport(transport)
    target = canonical_endpoint(destination)
    if session.terminated:
        verdict = Verdict(VerdictAction.DISCARD, TERMINATING, None, "the session has ended")
    elif kind is None or target is None or target[1] == 0:
        verdict = Verdict(VerdictAction.DISCARD, RULES, None, "invalid destination")
    else:
        verdict = _judge_connect(ctx, session, target, kind, now)
    ctx.events.emit(
        EventKind.CONNECT,
        now,
        session_id=session.id,
        detail={
            "destination": _address_text(destination),
            "verdict": verdict.action.value,
            "reason": verdict.reason,
            "detail": verdict.detail,
        },
    )
    return verdict


def _judge_connect(
    ctx: Context, session: Session, target: Endpoint, transport: Transport, now: float
) -> Verdict:
    permission = ctx.futures.use(session, transport, target, now)
    if permission is not None:
        ctx.events.emit(
            EventKind.FUTURE_CONNECT_USED,
            now,
            session_id=session.id,
            detail={"destination": endpoint_text(target), "uses": permission.uses},
        )
        return Verdict(VerdictAction.ACCEPT, FUTURE_CONNECT, None, "allow_future_connect")
    answer = ctx.rules.outbound(session, transport, target[1])
    if answer is None:
        text = f"no protocol has an outbound primary connection on {transport.label}/{target[1]}"
        return Verdict(VerdictAction.DISCARD, RULES, None, text)
    name = answer.protocol.name if answer.protocol is not None else "?"
    action = VerdictAction.ACCEPT if answer.allowed else VerdictAction.DISCARD
    reason = ALLOWED if answer.allowed else RULES
    return Verdict(action, reason, None, f"{name}: {answer.text}", answer.protocol)


def _invalid(reason: str) -> _Outcome:
    return HResult.E_INVALIDARG, None, reason


def _address_text(address: object) -> str:
    endpoint = canonical_endpoint(address)
    return endpoint_text(endpoint) if endpoint is not None else repr(address)


def _refused(
    ctx: Context,
    call: str,
    session: Session,
    bind: Bind | None,
    actor: str,
    now: float,
    result: HResult,
    *,
    address: str,
    reason: str,
) -> None:
    ctx.events.emit(
        EventKind.ALLOW_REFUSED,
        now,
        None if bind is None else bind.id,
        session.id,
        {
            "call": call,
            "result": result.name,
            "hresult": result.hex,
            "actor": actor,
            "address": address,
            "reason": reason,
        },
    )
