"""fwx's firewall service: the sans-I/O engine core and, around it, the data plane.

The public names of the core are re-exported here, so a library user writes
``from engine import Engine, IpFilter, HResult``.
"""

from __future__ import annotations

from engine.core import (
    KNOWN_FLAGS,
    REASONS,
    Bind,
    BindState,
    Endpoint,
    Engine,
    Event,
    EventKind,
    Flags,
    FutureFlags,
    Gap,
    HResult,
    IllegalTransition,
    IpFilter,
    ManualClock,
    Opening,
    Permission,
    RulesChange,
    Session,
    SessionFlags,
    Subscription,
    Transport,
    Verdict,
    VerdictAction,
)

__all__ = [
    "KNOWN_FLAGS",
    "REASONS",
    "Bind",
    "BindState",
    "Endpoint",
    "Engine",
    "Event",
    "EventKind",
    "Flags",
    "FutureFlags",
    "Gap",
    "HResult",
    "IllegalTransition",
    "IpFilter",
    "ManualClock",
    "Opening",
    "Permission",
    "RulesChange",
    "Session",
    "SessionFlags",
    "Subscription",
    "Transport",
    "Verdict",
    "VerdictAction",
]
