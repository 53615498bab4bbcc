"""What one step of a simulation produced: a frozen :class:`StepResult`.

A result carries what the engine answered — an ``HResult`` for the session
methods, a verdict and its reason for traffic — plus the session and bind
the step concerned (the engine's ids, the trace's names, the bind's state
after the step), values particular to the op, the events the engine
emitted during the step, and one line for people. :meth:`StepResult.to_json`
is the JSON line ``fwx simulate --json`` prints.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from engine import BindState, HResult, VerdictAction

__all__ = ["StepResult"]

_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StepResult:
    """The outcome of step number ``step`` (1-based), at clock time ``time``."""

    step: int
    op: str
    time: float
    result: HResult | None = None
    action: VerdictAction | None = None
    reason: str | None = None
    session: int | None = None
    session_name: str | None = None
    bind: int | None = None
    bind_name: str | None = None
    state: BindState | None = None
    data: Mapping[str, object] = field(default_factory=lambda: _EMPTY)
    """Values particular to the op (addresses, flags, openings…), JSON-able."""
    events: tuple[Mapping[str, object], ...] = field(default=())
    """The engine's events emitted during the step, JSON-able."""
    note: str = ""
    """One line for people: what the step did, in the table's detail column."""

    @property
    def outcome(self) -> str:
        """The answer in a word or two: ``S_OK``, ``accept (allowed)``, or ``""``."""
        if self.result is not None:
            return self.result.name
        if self.action is not None:
            return f"{self.action.value} ({self.reason})"
        return ""

    @property
    def subject(self) -> str:
        """The bind or session concerned, as ``b1 #3`` (trace name, engine id)."""
        if self.bind is not None:
            return _named(self.bind_name, self.bind)
        if self.session is not None:
            return _named(self.session_name, self.session)
        return ""

    def to_json(self) -> dict[str, object]:
        """The result as one JSON object (see the README's ``fwx simulate`` section)."""
        line: dict[str, object] = {"step": self.step, "op": self.op, "time": self.time}
        if self.result is not None:
            line["result"] = self.result.name
            line["hresult"] = self.result.hex
        if self.action is not None:
            line["verdict"] = self.action.value
            line["reason"] = self.reason
        for key, value in (
            ("session", self.session),
            ("session_name", self.session_name),
            ("bind", self.bind),
            ("bind_name", self.bind_name),
        ):
            if value is not None:
                line[key] = value
        if self.state is not None:
            line["state"] = self.state.value
        line.update(copy.deepcopy(dict(self.data)))
        line["events"] = [copy.deepcopy(dict(event)) for event in self.events]
        return line


def _named(name: str | None, number: int) -> str:
    return f"{name} #{number}" if name is not None else f"#{number}"
