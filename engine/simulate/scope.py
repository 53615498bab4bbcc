"""What a trace has defined so far, and the reading of keys that refer to it.

Steps refer to things by name: sessions and binds by the ``id`` an earlier
step gave them, protocols by a name from the rules in force or from an
earlier ``register_protocol`` step, IP filters by the name of a rules set.
The :class:`Scope` follows the trace in order, so a reference to something
defined later, or never, is a load-time problem with its line.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from engine.simulate.fields import StepReader
from engine.simulate.steps import BindRef, FilterSpec, parse_endpoint
from rules.addresses import parse_spec
from rules.model import RuleSet

__all__ = ["Scope"]


@dataclass
class Scope:
    """Ids, registered protocol names and the rules in force at the step being read."""

    rules: RuleSet
    base: Path
    ids: dict[str, int] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    binds: set[str] = field(default_factory=set)
    registered: dict[str, uuid.UUID] = field(default_factory=dict)

    def new_id(self, reader: StepReader, *, required: bool) -> str | None:
        """The ``id`` naming what this step creates; unique in the whole trace."""
        name = reader.text("id", required=required)
        if name is None:
            return None
        if name in self.ids:
            reader.problem("id", f"id {name!r} is already used by step {self.ids[name]}")
            return None
        try:
            parse_endpoint(name)
        except ValueError:
            self.ids[name] = reader.number
            return name
        reader.problem("id", f"id {name!r} looks like an address; pick a name such as 'b1'")
        return None

    def session_ref(self, reader: StepReader) -> str | None:
        """The ``session`` key: the id of an earlier ``session`` step."""
        name = reader.text("session")
        if name is not None and name not in self.sessions:
            reader.problem("session", _unknown_ref("session", name, self.sessions))
            return None
        return name

    def bind_ref(self, reader: StepReader) -> BindRef | None:
        """The ``bind`` key: the id of an earlier bind step, or a bind's ``ip:port``.

        With an address, an optional ``transport`` key narrows the match.
        """
        text = reader.text("bind")
        transport = reader.transport("transport", required=False)
        if text is None:
            return None
        if text in self.binds:
            return BindRef(name=text)
        try:
            return BindRef(address=parse_endpoint(text.strip()), transport=transport)
        except ValueError:
            message = _unknown_ref("bind", text, self.binds)
            reader.problem("bind", f"{message}, or an IP:port address")
            return None

    def protocol_ref(self, reader: StepReader, key: str = "protocol_guid") -> uuid.UUID | None:
        """A protocol GUID (braces allowed) or the name of a protocol known at this step.

        A GUID nobody registered is passed through: the engine's policy
        answers for it. A name nobody defined is a problem.
        """
        text = reader.text(key)
        if text is None:
            return None
        wanted = text.strip()
        known = self.rules.protocol(wanted)
        if known is not None:
            return known.guid
        if wanted in self.registered:
            return self.registered[wanted]
        try:
            return uuid.UUID(wanted)
        except ValueError:
            names = {p.name for p in self.rules.protocols} | set(self.registered)
            listing = ", ".join(repr(name) for name in sorted(names)) or "none defined"
            reader.problem(
                key, f"unknown protocol {wanted!r}: neither a GUID nor a known name ({listing})"
            )
            return None

    def ip_filter(self, reader: StepReader) -> FilterSpec | None:
        """``ip_filter``: "none" (NULL, the default), "empty", a set name or an inline table."""
        value = reader.raw("ip_filter", required=False)
        if value is None or value == "none":
            return None
        if value == "empty":
            return FilterSpec("empty")
        if isinstance(value, str):
            named = self.rules.ip_filter(value)
            if named is not None:
                return FilterSpec(named.name, named.include, named.exclude)
            names = ", ".join(repr(f.name) for f in self.rules.ip_filters) or "none defined"
            reader.problem(
                "ip_filter",
                f'unknown IP filter set {value!r}: expected "none", "empty", '
                f"{{ include = [...], exclude = [...] }} or a set of the rules ({names})",
            )
            return None
        if not isinstance(value, dict):
            reader.problem("ip_filter", "expected a string or an inline table")
            return None
        for key in value:
            if key not in ("include", "exclude"):
                reader.problem(f"ip_filter.{key}", "unknown key; expected 'include' or 'exclude'")
        include = _specs(reader, value, "include")
        exclude = _specs(reader, value, "exclude")
        if include is None or exclude is None:
            return None
        return FilterSpec("inline", include, exclude)


def _unknown_ref(kind: str, name: str, known: set[str]) -> str:
    """The message for a reference to an id no earlier step defined."""
    listing = ", ".join(repr(each) for each in sorted(known)) or "none yet"
    return f"unknown {kind} {name!r}: expected the id of an earlier {kind} step ({listing})"


def _specs(reader: StepReader, table: dict[str, object], key: str) -> tuple[str, ...] | None:
    """A list of address, CIDR or range specs inside an inline ``ip_filter`` table."""
    value = table.get(key, [])
    where = f"ip_filter.{key}"
    if not isinstance(value, list):
        reader.problem(where, "expected a list of addresses, CIDR blocks or a-b ranges")
        return None
    specs: list[str] = []
    for position, spec in enumerate(value):
        try:
            if not isinstance(spec, str):
                raise ValueError("expected an address, CIDR block or a-b range string")
            parse_spec(spec)
        except ValueError as err:
            reader.problem(f"{where}[{position}]", str(err))
        else:
            specs.append(spec)
    return tuple(specs) if len(specs) == len(value) else None
