"""Loading a simulation trace: TOML ``[[step]]`` tables checked as a whole.

A trace is read, parsed and checked completely before anything runs: every
problem — TOML syntax, unknown ops and keys, bad addresses, references to
ids, protocols or IP filter sets that do not exist at that point of the
trace, rule files named by ``replace_rules`` that do not load — is reported
at once, one ``PATH:LINE: step[N].key: message`` line each (N counts steps
from 1, as the results do). Names are resolved in trace order: a protocol
name means a protocol of the rules in force at that step (the ``--rules``
file, or the last ``replace_rules``) or one registered by an earlier
``register_protocol`` step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from engine import Flags, FutureFlags
from engine.simulate.fields import StepReader
from engine.simulate.protocol import read_protocol
from engine.simulate.scope import Scope
from engine.simulate.steps import (
    AdvanceStep,
    AllowFutureConnectStep,
    BindForClientStep,
    BindStep,
    CloseStep,
    ConnectStep,
    DatagramInStep,
    DatagramOutStep,
    EndSessionStep,
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
    parse_ip,
)
from rules import loader
from rules.errors import Problem, RuleFileError
from rules.locate import KeyLocator, bounded, parse_document
from rules.model import RuleSet, Transport

__all__ = [
    "BIND_FLAG_NAMES",
    "FUTURE_FLAG_NAMES",
    "TraceError",
    "TraceUnreadable",
    "load",
    "loads",
]

BIND_FLAG_NAMES: dict[str, int] = {
    "bidirectional": Flags.BIDIRECTIONAL,
    "increase_receive_buffer": Flags.INCREASE_RECEIVE_BUFFER,
}
FUTURE_FLAG_NAMES: dict[str, int] = {
    "allow_multiple": FutureFlags.ALLOW_MULTIPLE,
    "timeout": FutureFlags.TIMEOUT,
    "address_based": FutureFlags.ADDRESS_BASED,
}


class TraceError(RuleFileError):
    """A trace that cannot run; ``problems`` lists every reason, one line each."""


class TraceUnreadable(TraceError):
    """The trace file could not be read at all (missing, no permission, a folder)."""


def load(path: str | os.PathLike[str], rules: RuleSet) -> Trace:
    """Read and check the trace at ``path`` against ``rules``; raises :class:`TraceError`."""
    name = os.fspath(path)
    try:
        text = Path(name).read_bytes().decode("utf-8")
    except OSError as err:
        problem = _file_problem(name, f"cannot read the trace: {err.strerror}")
        raise TraceUnreadable([problem]) from None
    except UnicodeDecodeError as err:
        problem = _file_problem(name, f"the trace is not UTF-8 text ({err.reason})")
        raise TraceError([problem]) from None
    return loads(text, rules, path=name)


def loads(text: str, rules: RuleSet, path: str = "<string>", base: Path | None = None) -> Trace:
    """Parse and check trace ``text``; ``replace_rules`` paths are relative to ``base``.

    ``base`` defaults to the folder of ``path``. Raises :class:`TraceError`
    with every problem found; never returns a partly checked trace.
    """
    try:
        document = parse_document(text, path)
    except RuleFileError as err:
        raise TraceError(err.problems) from None
    problems: list[Problem] = []
    locator = KeyLocator(text)
    scope = Scope(rules=rules, base=base if base is not None else Path(path).parent)
    steps = _read_steps(document, path, locator, scope, problems)
    if problems:
        raise TraceError(bounded(problems))
    return Trace(path=path, steps=tuple(steps))


def _file_problem(path: str, message: str) -> Problem:
    return Problem(path=path, line=None, col=None, key="", message=message)


def _read_steps(
    document: dict[str, object],
    path: str,
    locator: KeyLocator,
    scope: Scope,
    problems: list[Problem],
) -> list[Step]:
    """Every step of ``document`` in order, with the top-level keys checked too."""
    for key in document:
        if key not in ("step", "description"):
            problems.append(
                Problem(path, locator.line(key), None, key, "unknown key; a trace holds [[step]]")
            )
    tables = document.get("step")
    if not isinstance(tables, list) or not tables:
        problems.append(
            Problem(path, locator.line("step"), None, "step", "the trace has no [[step]] tables")
        )
        return []
    steps: list[Step] = []
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            problems.append(
                Problem(path, locator.line("step"), None, "step", "step must be a [[step]] table")
            )
            continue
        reader = StepReader(table, index, path, locator, problems)
        step = _read_step(reader, scope)
        if step is not None:
            steps.append(step)
    return steps


def _read_step(reader: StepReader, scope: Scope) -> Step | None:
    """The step of one table, or None after recording why it is wrong."""
    op = reader.choice("op", _OPS)
    if op is None:
        return None
    step = _OPS[op](reader, scope)
    reader.finish()
    return step


def _session(reader: StepReader, scope: Scope) -> Step | None:
    name = scope.new_id(reader, required=True)
    if name is not None:
        scope.sessions.add(name)
    client = reader.text("client")
    user = reader.text("user", required=False)
    authenticated = reader.boolean("authenticated", default=user is not None)
    private = reader.boolean("private", default=False)
    if authenticated and user is None:
        reader.problem("authenticated", "an anonymous session (no 'user') cannot be authenticated")
    if client is not None:
        try:
            client = parse_ip(client.strip())
        except ValueError as err:
            reader.problem("client", str(err))
            return None
    if name is None or client is None:
        return None
    return SessionStep(reader.number, name, client, user, authenticated, private)


def _bind(reader: StepReader, scope: Scope) -> Step | None:
    name = scope.new_id(reader, required=False)
    if name is not None:
        scope.binds.add(name)
    session = scope.session_ref(reader)
    transport = reader.transport("transport")
    address = reader.endpoint("address")
    if session is None or transport is None or address is None:
        return None
    return BindStep(reader.number, name, session, transport, address)


def _protocol_value(reader: StepReader) -> tuple[int, str] | None:
    """RetroactiveAllowBind's ``Protocol``: "tcp"/"udp", or anything else passed through."""
    value = reader.raw("protocol", required=True)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        reader.problem("protocol", 'expected "tcp", "udp", another string or an integer')
        return None
    if isinstance(value, int):
        return value, str(value)
    known = {transport.label: int(transport) for transport in Transport}
    return known.get(value, 0), value


def _retroactive_allow_bind(reader: StepReader, scope: Scope) -> Step | None:
    session = scope.session_ref(reader)
    protocol = _protocol_value(reader)
    address = reader.endpoint("address")
    address_length = reader.integer("address_length", low=0, high=0xFFFFFFFF)
    guid = scope.protocol_ref(reader)
    flags = reader.flags("flags", BIND_FLAG_NAMES, default=0)
    ip_filter = scope.ip_filter(reader)
    actor = reader.text("actor", required=False) or "session"
    if session is None or protocol is None or address is None or guid is None or flags is None:
        return None
    return RetroactiveAllowStep(
        reader.number,
        session,
        protocol[0],
        protocol[1],
        address,
        address_length,
        guid,
        flags,
        ip_filter,
        actor,
    )


def _inbound(reader: StepReader, scope: Scope) -> Step | None:
    transport = reader.transport("transport", default=Transport.TCP)
    local = reader.endpoint("to")
    remote = reader.endpoint("from")
    if transport is None or local is None or remote is None:
        return None
    return InboundStep(reader.number, transport, local, remote)


def _datagram_in(reader: StepReader, scope: Scope) -> Step | None:
    local = reader.endpoint("to")
    remote = reader.endpoint("from")
    if local is None or remote is None:
        return None
    return DatagramInStep(reader.number, local, remote)


def _datagram_out(reader: StepReader, scope: Scope) -> Step | None:
    local = reader.endpoint("from")
    remote = reader.endpoint("to")
    if local is None or remote is None:
        return None
    return DatagramOutStep(reader.number, local, remote)


def _connect(reader: StepReader, scope: Scope) -> Step | None:
    session = scope.session_ref(reader)
    destination = reader.endpoint("to")
    transport = reader.transport("transport", default=Transport.TCP)
    if session is None or destination is None or transport is None:
        return None
    return ConnectStep(reader.number, session, destination, transport)


def _bind_for_client(reader: StepReader, scope: Scope) -> Step | None:
    name = scope.new_id(reader, required=False)
    if name is not None:
        scope.binds.add(name)
    session = scope.session_ref(reader)
    transport = reader.transport("transport")
    clients = reader.endpoints("client_addresses")
    proxy = reader.endpoint("proxy_address", required=False)
    guid = scope.protocol_ref(reader)
    flags = reader.flags("flags", BIND_FLAG_NAMES, default=0)
    ip_filter = scope.ip_filter(reader)
    actor = reader.text("actor", required=False) or "filter:simulate"
    if session is None or transport is None or clients is None or guid is None or flags is None:
        return None
    return BindForClientStep(
        reader.number, name, session, transport, clients, proxy, guid, flags, ip_filter, actor
    )


def _allow_future_connect(reader: StepReader, scope: Scope) -> Step | None:
    session = scope.session_ref(reader)
    address = reader.endpoint("address")
    transport = reader.transport("transport", default=Transport.TCP)
    guid = scope.protocol_ref(reader)
    flags = reader.flags("flags", FUTURE_FLAG_NAMES, default=FUTURE_FLAG_NAMES["timeout"])
    actor = reader.text("actor", required=False) or "filter:simulate"
    if session is None or address is None or transport is None or guid is None or flags is None:
        return None
    return AllowFutureConnectStep(reader.number, session, address, transport, guid, flags, actor)


def _register_protocol(reader: StepReader, scope: Scope) -> Step | None:
    definition = read_protocol(reader, "protocol")
    if definition is None:
        return None
    scope.registered[definition.name] = definition.guid
    return RegisterProtocolStep(reader.number, definition)


def _unregister_protocol(reader: StepReader, scope: Scope) -> Step | None:
    guid = scope.protocol_ref(reader)
    return None if guid is None else UnregisterProtocolStep(reader.number, guid)


def _terminate(reader: StepReader, scope: Scope) -> Step | None:
    bind = scope.bind_ref(reader)
    return None if bind is None else TerminateStep(reader.number, bind)


def _close(reader: StepReader, scope: Scope) -> Step | None:
    bind = scope.bind_ref(reader)
    return None if bind is None else CloseStep(reader.number, bind)


def _end_session(reader: StepReader, scope: Scope) -> Step | None:
    session = scope.session_ref(reader)
    return None if session is None else EndSessionStep(reader.number, session)


def _replace_rules(reader: StepReader, scope: Scope) -> Step | None:
    name = reader.text("rules")
    recheck = reader.boolean("recheck", default=False)
    if name is None:
        return None
    path = scope.base / name
    try:
        ruleset = loader.load(path)
    except RuleFileError as err:
        reader.problem("rules", f"the rule file {os.fspath(path)!r} does not load:")
        reader.extend(err.problems)
        return None
    scope.rules = ruleset
    return ReplaceRulesStep(reader.number, path, ruleset, recheck)


def _advance(reader: StepReader, scope: Scope) -> Step | None:
    seconds = reader.seconds("seconds")
    return None if seconds is None else AdvanceStep(reader.number, seconds)


def _openings(reader: StepReader, scope: Scope) -> Step | None:
    return OpeningsStep(reader.number)


_OPS: dict[str, Callable[[StepReader, Scope], Step | None]] = {
    "session": _session,
    "bind": _bind,
    "retroactive_allow_bind": _retroactive_allow_bind,
    "inbound": _inbound,
    "datagram_in": _datagram_in,
    "datagram_out": _datagram_out,
    "connect": _connect,
    "bind_for_client": _bind_for_client,
    "allow_future_connect": _allow_future_connect,
    "register_protocol": _register_protocol,
    "unregister_protocol": _unregister_protocol,
    "terminate": _terminate,
    "close": _close,
    "end_session": _end_session,
    "replace_rules": _replace_rules,
    "advance": _advance,
    "openings": _openings,
}
