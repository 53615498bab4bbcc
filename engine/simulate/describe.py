"""How a simulation step's outcome reads: notes for people, JSON for scripts.

Small pure helpers of the runner: flag names, the one-line notes of
traffic, binds and openings, the engine's own explanation taken from a
step's events, and events as JSON-able mappings.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from engine import Bind, Event, Gap, Opening
from engine.simulate.steps import Endpoint, format_endpoint
from rules.model import Transport

__all__ = [
    "bind_note",
    "event_json",
    "explanation",
    "flag_names",
    "opening_note",
    "traffic",
]


def flag_names(flags: enum.IntFlag) -> list[str]:
    """The names of the bits set in ``flags``, lower case (``["nat", "authenticated"]``)."""
    return [flag.name.lower() for flag in type(flags) if flag.name and flag & flags]


def traffic(
    source: Endpoint, target: Endpoint, transport: Transport = Transport.UDP
) -> dict[str, object]:
    """The JSON values of a traffic step: transport, from, to."""
    return {
        "transport": transport.label,
        "from": format_endpoint(source),
        "to": format_endpoint(target),
    }


def bind_note(transport: Transport, address: Endpoint, bind: Bind | None) -> str:
    """``tcp 198.51.100.1:7777, allowed by rules:NAME``: a bind and who allowed it at once."""
    text = f"{transport.label} {format_endpoint(address)}"
    if bind is not None and bind.allowed_by is not None:
        text += f", allowed by {bind.allowed_by}"
    return text


def opening_note(opening: Opening) -> str:
    """``tcp 198.51.100.1:40000 from 192.0.2.10``: an opening and the remotes it admits."""
    remote = "any" if opening.remote is None else ", ".join(opening.remote.specs()) or "nobody"
    return f"{opening.transport.label} {format_endpoint(opening.address)} from {remote}"


def explanation(events: tuple[Mapping[str, object], ...]) -> str:
    """Why the engine refused or granted an approval, from the step's events ("" if none)."""
    for event in events:
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            continue
        if event["kind"] == "allow-refused":
            return str(detail.get("reason", ""))
        if event["kind"] == "bind-allowed":
            return str(detail.get("decision", ""))
    return ""


def event_json(item: Event | Gap) -> Mapping[str, object]:
    """An engine event (or a gap marker) as a JSON-able mapping."""
    if isinstance(item, Gap):
        return {"kind": "gap", "missed": item.missed}
    line: dict[str, object] = {"seq": item.seq, "kind": item.kind.value}
    if item.bind_id is not None:
        line["bind"] = item.bind_id
    if item.session_id is not None:
        line["session"] = item.session_id
    if item.detail:
        line["detail"] = dict(item.detail)
    return MappingProxyType(line)
