"""Replaying a checked trace against a fresh engine, one :class:`StepResult` per step.

The engine is ``Engine(rules, clock=ManualClock())``: time starts at 0 and
moves only with ``advance`` steps, so a trace gives the same results on
every run. The runner keeps the map from the trace's names to the sessions
and binds the engine made, calls exactly one engine method per step (two for
``advance``: the clock, then ``tick``), and reports what came back together
with the events the engine emitted meanwhile. Nothing here raises for an
outcome the engine can answer: a bind that a step names but that no longer
exists (or never did) is ``NOT_FOUND``, as the engine says for gone binds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from engine import (
    Bind,
    Engine,
    FutureFlags,
    HResult,
    IpFilter,
    ManualClock,
    Session,
    Verdict,
)
from engine.simulate.describe import (
    bind_note,
    event_json,
    explanation,
    flag_names,
    opening_note,
    traffic,
)
from engine.simulate.results import StepResult
from engine.simulate.steps import (
    AdvanceStep,
    AllowFutureConnectStep,
    BindForClientStep,
    BindRef,
    BindStep,
    CloseStep,
    ConnectStep,
    DatagramInStep,
    DatagramOutStep,
    EndSessionStep,
    FilterSpec,
    InboundStep,
    OpeningsStep,
    RegisterProtocolStep,
    ReplaceRulesStep,
    RetroactiveAllowStep,
    SessionStep,
    Step,
    TerminateStep,
    Trace,
    UnregisterProtocolStep,
    format_endpoint,
)
from rules.model import RuleSet

__all__ = ["run"]


def run(trace: Trace, rules: RuleSet) -> Iterator[StepResult]:
    """Replay ``trace`` against a fresh engine enforcing ``rules``, yielding each step's result."""
    replay = _Replay(rules)
    for step in trace.steps:
        yield replay.play(step)


class _Replay:
    """One engine, its manual clock, and the trace's names for what it created."""

    def __init__(self, rules: RuleSet) -> None:
        self.clock = ManualClock()
        self.engine = Engine(rules, clock=self.clock)
        self.events = self.engine.subscribe()
        self.sessions: dict[str, Session] = {}
        self.session_names: dict[int, str] = {}
        self.binds: dict[str, Bind | None] = {}
        self.bind_names: dict[int, str] = {}
        self.protocol_names = {proto.guid: proto.name for proto in rules.protocols}

    def play(self, step: Step) -> StepResult:
        """Run ``step`` (the method named after its op) and describe what happened.

        The note gets the engine's own explanation from the step's events: why
        an allow was refused or which rule allowed it, and for ``advance``
        what the time-based work did.
        """
        handler: Callable[[Any], dict[str, Any]] = getattr(self, f"_{step.op}")
        fields = handler(step)
        events = tuple(event_json(item) for item in self.events.drain())
        notes = [fields.get("note", ""), explanation(events)]
        if isinstance(step, AdvanceStep):
            notes.extend(self._event_label(event) for event in events)
        fields["note"] = ": ".join(note for note in notes[:2] if note)
        fields["note"] += "".join(f"; {note}" for note in notes[2:])
        fields["events"] = events
        fields["data"] = MappingProxyType(fields.get("data", {}))
        return StepResult(step.number, step.op, self.clock(), **fields)

    # -- describing ---------------------------------------------------------------

    def _with_session(self, session: Session) -> dict[str, Any]:
        return {"session": session.id, "session_name": self.session_names.get(session.id)}

    def _with_bind(self, bind: Bind | None) -> dict[str, Any]:
        if bind is None:
            return {}
        return {
            **self._with_session(bind.session),
            "bind": bind.id,
            "bind_name": self.bind_names.get(bind.id),
            "state": bind.state,
        }

    def _verdict(self, verdict: Verdict, data: dict[str, object], note: str) -> dict[str, Any]:
        if verdict.detail:
            data["detail"] = verdict.detail
            note = f"{note}: {verdict.detail}"
        return {
            "action": verdict.action,
            "reason": verdict.reason,
            **self._with_bind(verdict.bind),
            "data": data,
            "note": note,
        }

    def _name_bind(self, name: str | None, bind: Bind | None) -> None:
        if name is not None:
            self.binds[name] = bind
            if bind is not None:
                self.bind_names[bind.id] = name

    def _protocol_name(self, guid: uuid.UUID) -> str:
        """The protocol's name from the rules or a register step, else the GUID."""
        return self.protocol_names.get(guid, str(guid))

    def _event_label(self, event: Mapping[str, object]) -> str:
        """``bind-expired dns #1``: an event's kind and the bind it concerns."""
        bind = event.get("bind")
        if not isinstance(bind, int):
            return str(event["kind"])
        name = self.bind_names.get(bind)
        return f"{event['kind']} {name} #{bind}" if name else f"{event['kind']} #{bind}"

    # -- one method per op ----------------------------------------------------------

    def _session(self, step: SessionStep) -> dict[str, Any]:
        session = self.engine.session(
            step.client, step.user, authenticated=step.authenticated, private=step.private
        )
        self.sessions[step.name] = session
        self.session_names.setdefault(session.id, step.name)
        flags = flag_names(session.flags)
        who = step.user if step.user is not None else "anonymous"
        return {
            **self._with_session(session),
            "data": {"client": session.client, "user": step.user, "flags": flags},
            "note": f"{session.client} {who} [{', '.join(flags)}]",
        }

    def _bind(self, step: BindStep) -> dict[str, Any]:
        session = self.sessions[step.session]
        result, bind = self.engine.bind(session, step.transport, step.address)
        self._name_bind(step.name, bind)
        address = bind.address if bind is not None else step.address
        return {
            "result": result,
            **self._with_session(session),
            **self._with_bind(bind),
            "data": {"transport": step.transport.label, "address": format_endpoint(address)},
            "note": bind_note(step.transport, address, bind),
        }

    def _retroactive_allow_bind(self, step: RetroactiveAllowStep) -> dict[str, Any]:
        session = self.sessions[step.session]
        result = self.engine.retroactive_allow_bind(
            session,
            step.protocol,
            step.address,
            step.address_length,
            step.protocol_guid,
            step.flags,
            _build(step.ip_filter),
            actor=step.actor,
        )
        bind = self.engine.find_bind(session, step.protocol, step.address)
        name = self._protocol_name(step.protocol_guid)
        filter_label = "none" if step.ip_filter is None else step.ip_filter.label
        return {
            "result": result,
            **self._with_session(session),
            **self._with_bind(bind),
            "data": {
                "protocol": step.protocol_text,
                "address": format_endpoint(step.address),
                "protocol_guid": str(step.protocol_guid),
                "protocol_name": name,
                "flags": step.flags,
                "ip_filter": filter_label,
            },
            "note": f"{step.protocol_text} {format_endpoint(step.address)} for {name}, "
            f"flags 0x{step.flags:X}, ip_filter {filter_label}",
        }

    def _inbound(self, step: InboundStep) -> dict[str, Any]:
        verdict = self.engine.inbound(step.transport, step.local, step.remote)
        return self._verdict(
            verdict,
            traffic(step.remote, step.local, step.transport),
            f"{step.transport.label} {format_endpoint(step.remote)} -> "
            f"{format_endpoint(step.local)}",
        )

    def _datagram_in(self, step: DatagramInStep) -> dict[str, Any]:
        verdict = self.engine.datagram_in(step.local, step.remote)
        return self._verdict(
            verdict,
            traffic(step.remote, step.local),
            f"udp {format_endpoint(step.remote)} -> {format_endpoint(step.local)}",
        )

    def _datagram_out(self, step: DatagramOutStep) -> dict[str, Any]:
        verdict = self.engine.datagram_out(step.local, step.remote)
        return self._verdict(
            verdict,
            traffic(step.local, step.remote),
            f"udp {format_endpoint(step.local)} -> {format_endpoint(step.remote)}",
        )

    def _connect(self, step: ConnectStep) -> dict[str, Any]:
        session = self.sessions[step.session]
        verdict = self.engine.connect(session, step.destination, step.transport)
        fields = self._verdict(
            verdict,
            {"to": format_endpoint(step.destination), "transport": step.transport.label},
            f"{step.transport.label} to {format_endpoint(step.destination)}",
        )
        return {**fields, **self._with_session(session)}

    def _bind_for_client(self, step: BindForClientStep) -> dict[str, Any]:
        session = self.sessions[step.session]
        proxy = step.proxy_address or (self.engine.rules.service.external, 0)
        result, bind = self.engine.bind_for_client(
            session,
            step.transport,
            step.client_addresses,
            proxy,
            step.protocol_guid,
            step.flags,
            _build(step.ip_filter),
            actor=step.actor,
        )
        self._name_bind(step.name, bind)
        address = bind.address if bind is not None else proxy
        clients = [format_endpoint(client) for client in step.client_addresses]
        return {
            "result": result,
            **self._with_session(session),
            **self._with_bind(bind),
            "data": {
                "transport": step.transport.label,
                "address": format_endpoint(address),
                "client_addresses": clients,
                "protocol_guid": str(step.protocol_guid),
                "protocol_name": self._protocol_name(step.protocol_guid),
            },
            "note": f"{bind_note(step.transport, address, bind)} for {', '.join(clients)}",
        }

    def _allow_future_connect(self, step: AllowFutureConnectStep) -> dict[str, Any]:
        session = self.sessions[step.session]
        result = self.engine.allow_future_connect(
            session,
            step.address,
            step.transport,
            step.protocol_guid,
            FutureFlags(step.flags),
            actor=step.actor,
        )
        flags = flag_names(FutureFlags(step.flags))
        return {
            "result": result,
            **self._with_session(session),
            "data": {"address": format_endpoint(step.address), "flags": step.flags},
            "note": f"{step.transport.label} to {format_endpoint(step.address)} "
            f"for {self._protocol_name(step.protocol_guid)} [{', '.join(flags)}]",
        }

    def _register_protocol(self, step: RegisterProtocolStep) -> dict[str, Any]:
        definition = step.definition
        result = self.engine.register_protocol(definition)
        self.protocol_names.setdefault(definition.guid, definition.name)
        primary = definition.primary
        return {
            "result": result,
            "data": {"protocol_guid": str(definition.guid), "protocol_name": definition.name},
            "note": f"{definition.name} {definition.guid} ({primary.transport.label} "
            f"{primary.port} {primary.direction.value})",
        }

    def _unregister_protocol(self, step: UnregisterProtocolStep) -> dict[str, Any]:
        name = self._protocol_name(step.protocol_guid)
        result = self.engine.unregister_protocol(step.protocol_guid)
        return {
            "result": result,
            "data": {"protocol_guid": str(step.protocol_guid), "protocol_name": name},
            "note": f"{name} {step.protocol_guid}",
        }

    def _terminate(self, step: TerminateStep) -> dict[str, Any]:
        return self._end_bind(step.bind, self.engine.terminate)

    def _close(self, step: CloseStep) -> dict[str, Any]:
        return self._end_bind(step.bind, self.engine.close)

    def _end_bind(self, ref: BindRef, method: Callable[[Bind], HResult]) -> dict[str, Any]:
        bind = self._find_bind(ref)
        if bind is None:
            return {
                "result": HResult.NOT_FOUND,
                "data": {"target": str(ref)},
                "note": f"{ref}: no live bind",
            }
        result = method(bind)
        return {
            "result": result,
            **self._with_bind(bind),
            "data": {"target": str(ref), "address": format_endpoint(bind.address)},
            "note": f"{bind.transport.label} {format_endpoint(bind.address)}",
        }

    def _find_bind(self, ref: BindRef) -> Bind | None:
        if ref.name is not None:
            return self.binds.get(ref.name)
        for bind in self.engine.binds():
            if bind.address == ref.address and ref.transport in (None, bind.transport):
                return bind
        return None

    def _end_session(self, step: EndSessionStep) -> dict[str, Any]:
        session = self.sessions[step.session]
        ending = [bind.id for bind in session.binds.values()]
        self.engine.end_session(session)
        return {
            **self._with_session(session),
            "data": {"binds_closed": ending},
            "note": f"{len(ending)} bind(s) closed",
        }

    def _replace_rules(self, step: ReplaceRulesStep) -> dict[str, Any]:
        change = self.engine.replace_rules(step.rules)
        data: dict[str, object] = {
            "rules": str(step.path),
            "summary": change.summary(),
            "would_differ": list(change.would_differ),
        }
        note = change.summary()
        if step.recheck:
            results = self.engine.recheck(change.would_differ)
            data["recheck"] = {
                str(bind_id): result.name
                for bind_id, result in zip(change.would_differ, results, strict=True)
            }
            note += f"; rechecked {len(results)} bind(s)"
        return {"data": data, "note": note}

    def _advance(self, step: AdvanceStep) -> dict[str, Any]:
        self.clock.advance(step.seconds)
        self.engine.tick()
        return {"data": {"seconds": step.seconds}, "note": f"{step.seconds:g} s later"}

    def _openings(self, step: OpeningsStep) -> dict[str, Any]:
        openings = self.engine.openings()
        table = [
            {
                "transport": opening.transport.label,
                "address": format_endpoint(opening.address),
                "remote": None if opening.remote is None else opening.remote.specs(),
                "bind": opening.bind_id,
                "bind_name": self.bind_names.get(opening.bind_id),
            }
            for opening in openings
        ]
        note = "; ".join(opening_note(opening) for opening in openings) or "no openings"
        return {"data": {"openings": table}, "note": note}


def _build(spec: FilterSpec | None) -> IpFilter | None:
    """The engine filter for a step's ``ip_filter`` (None stays NULL)."""
    return None if spec is None else spec.build()
