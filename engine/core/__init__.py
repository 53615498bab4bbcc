"""The sans-I/O engine core: sessions, binds, protocol registry, IP filters, verdicts, events.

Nothing here touches a socket, a thread or the event loop, and the clock is
injected: the data plane, ``fwx simulate`` and the tests drive the same
:class:`Engine` with plain calls and get plain values back.
"""

from __future__ import annotations

from engine.core.binds import Bind, BindState, Endpoint, IllegalTransition
from engine.core.changes import RulesChange
from engine.core.clock import ManualClock
from engine.core.engine import Engine
from engine.core.events import Event, EventKind, Gap, Subscription
from engine.core.flows import FutureFlags, Permission
from engine.core.ipfilter import IpFilter
from engine.core.openings import Opening
from engine.core.results import KNOWN_FLAGS, Flags, HResult, Transport
from engine.core.sessions import Session, SessionFlags
from engine.core.verdicts import REASONS, Verdict, VerdictAction

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
