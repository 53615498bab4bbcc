"""Conversion from live engine objects to snapshot values, run on the service's loop.

Each function copies what the console shows out of an engine object; the
result shares nothing with the engine, so it can cross threads (or a socket)
while the engine goes on changing.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Mapping

from engine.admin.snapshots import (
    BindSnapshot,
    DiscardSnapshot,
    EventSnapshot,
    IpFilterSetSnapshot,
    OpeningSnapshot,
    ProtocolSnapshot,
    RuleSnapshot,
    SessionSnapshot,
    Timebase,
    endpoint_text,
)
from engine.core import Bind, Event, Opening, Session, SessionFlags
from rules.model import IpFilterSet, ProtocolDefinition, ProtocolRule, RuleSet

RECENT_SHOWN = 5
"""Recent discards a bind snapshot carries (the engine remembers more; the console shows these)."""

__all__ = [
    "RECENT_SHOWN",
    "bind_snapshot",
    "event_snapshot",
    "ip_filter_set_snapshot",
    "key_values",
    "opening_snapshot",
    "protocol_snapshot",
    "rule_snapshots",
    "session_snapshot",
    "value_text",
]


def bind_snapshot(
    bind: Bind, time: Timebase, protocol_names: Mapping[uuid.UUID, str]
) -> BindSnapshot:
    """Copy ``bind`` into a :class:`BindSnapshot`."""
    host, port = bind.address
    ip_filter = None if bind.ip_filter is None else tuple(bind.ip_filter.specs())
    discarded = sorted(bind.discarded.items(), key=lambda item: (-item[1], item[0]))
    recent = tuple(
        DiscardSnapshot(time.wall(at), endpoint_text(*remote), reason)
        for at, remote, reason in list(bind.recent_discards)[-RECENT_SHOWN:]
    )
    session = bind.session
    return BindSnapshot(
        id=bind.id,
        session_id=session.id,
        client=session.client,
        user=session.user,
        transport=bind.transport.label,
        host=host,
        port=port,
        state=bind.state.value,
        protocol=None if bind.protocol is None else str(bind.protocol),
        protocol_name=None if bind.protocol is None else protocol_names.get(bind.protocol),
        flags=int(bind.flags),
        ip_filter=ip_filter,
        accepted=bind.accepted,
        discarded=tuple(discarded),
        recent=recent,
        allowed_by=bind.allowed_by,
        allowed_at=time.wall_or_none(bind.allowed_at),
        created=time.wall(bind.created),
        last_seen=time.wall_or_none(bind.last_seen),
    )


def session_snapshot(session: Session, time: Timebase) -> SessionSnapshot:
    """Copy ``session`` into a :class:`SessionSnapshot`."""
    binds = list(session.binds.values())
    flags = tuple(flag.name for flag in SessionFlags if flag.value and session.flags & flag)
    return SessionSnapshot(
        id=session.id,
        client=session.client,
        user=session.user,
        flags=tuple(name for name in flags if name),
        created=time.wall(session.created),
        binds=len(binds),
        pending=sum(1 for bind in binds if bind.state.value == "pending"),
    )


def protocol_snapshot(definition: ProtocolDefinition, source: str) -> ProtocolSnapshot:
    """Copy a protocol definition into a :class:`ProtocolSnapshot`."""
    primary = definition.primary
    secondary = tuple(
        f"{item.transport.label} {item.ports_text} {item.direction.value}"
        for item in definition.secondary
    )
    inbound = [
        (item.transport.label, item.port_low, item.port_high)
        for item in definition.secondary
        if item.direction.accepts_inbound
    ]
    if primary.direction.accepts_inbound:
        inbound.insert(0, (primary.transport.label, primary.port, primary.port))
    return ProtocolSnapshot(
        guid=str(definition.guid),
        name=definition.name,
        primary=f"{primary.transport.label} {primary.port} {primary.direction.value}",
        secondary=secondary,
        filter=definition.filter,
        description=definition.description,
        source=source,
        inbound=tuple(inbound),
    )


def _role(rule: ProtocolRule) -> str:
    if not rule.enabled:
        return "disabled: never applies"
    if rule.action.value == "deny":
        return "deny: checked first, wins over any allow"
    return "allow: decides when no deny applies"


def rule_snapshots(ruleset: RuleSet) -> list[RuleSnapshot]:
    """The protocol rules in evaluation order: enabled denies, enabled allows, then disabled.

    ISA 2000 semantics (R77, R83): a use is allowed when some enabled rule
    allows it and no enabled rule denies it, so denies are effectively
    checked first and file order within each group does not change the result.
    """

    def rank(item: tuple[int, ProtocolRule]) -> tuple[int, int]:
        index, rule = item
        group = 2 if not rule.enabled else 0 if rule.action.value == "deny" else 1
        return (group, index)

    ordered = sorted(enumerate(ruleset.rules), key=rank)
    return [
        RuleSnapshot(
            position=index,
            name=rule.name,
            action=rule.action.value,
            protocols=rule.protocols,
            users=rule.users,
            clients=rule.clients,
            enabled=rule.enabled,
            except_protocols=rule.except_protocols,
            description=rule.description,
            role=_role(rule),
        )
        for index, rule in ordered
    ]


def ip_filter_set_snapshot(item: IpFilterSet) -> IpFilterSetSnapshot:
    """Copy a named IP filter set into an :class:`IpFilterSetSnapshot`."""
    return IpFilterSetSnapshot(item.name, item.include, item.exclude, item.description)


def opening_snapshot(opening: Opening) -> OpeningSnapshot:
    """Copy a packet-filter opening into an :class:`OpeningSnapshot`."""
    host, port = opening.address
    remote = None if opening.remote is None else tuple(opening.remote.specs())
    return OpeningSnapshot(opening.bind_id, opening.transport.label, host, port, remote)


def _detail_text(value: object) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{key}:{_detail_text(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ",".join(_detail_text(item) for item in value)
    if isinstance(value, enum.Enum):
        return str(value.name)
    return str(value)


def _detail_item(key: str, value: object, event: Event) -> tuple[str, str]:
    if key == "since" and isinstance(value, float | int):
        return ("interval", f"{event.time - value:.1f}s")
    if isinstance(value, float):
        return (key, f"{value:.1f}")
    return (key, _detail_text(value))


def event_snapshot(event: Event, time: Timebase) -> EventSnapshot:
    """Copy an engine event into an :class:`EventSnapshot`.

    Engine times in the detail (a summary's ``since``) become an ``interval``
    in seconds, so no monotonic clock reading leaks into the console.
    """
    detail = tuple(_detail_item(str(key), value, event) for key, value in event.detail.items())
    return EventSnapshot(
        seq=event.seq,
        time=time.wall(event.time),
        kind=event.kind.value,
        bind_id=event.bind_id,
        session_id=event.session_id,
        detail=detail,
    )


def key_values(detail: Mapping[str, object]) -> str:
    """``detail`` as ``key=value`` words for a log line; values that need it as JSON."""
    return " ".join(f"{key}={value_text(value)}" for key, value in detail.items())


def value_text(value: object) -> str:
    """A word as it is; anything else (spaces, lists, None) as compact JSON."""
    if isinstance(value, str) and value and " " not in value and "=" not in value:
        return value
    return json.dumps(value, separators=(",", ":"), default=str)
