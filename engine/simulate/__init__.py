"""`fwx simulate`: replay a trace file of steps against a fresh engine.

:func:`load_trace` reads and checks a whole trace (every problem at once);
:func:`run` replays it against ``Engine(rules, clock=ManualClock())`` and
yields one :class:`StepResult` per step. Unlike ``engine.core`` this package
reads files; like all of ``engine`` it knows nothing of the console.
"""

from __future__ import annotations

from engine.simulate.results import StepResult
from engine.simulate.runner import run
from engine.simulate.steps import Step, Trace
from engine.simulate.trace import TraceError, TraceUnreadable
from engine.simulate.trace import load as load_trace
from engine.simulate.trace import loads as loads_trace

__all__ = [
    "Step",
    "StepResult",
    "Trace",
    "TraceError",
    "TraceUnreadable",
    "load_trace",
    "loads_trace",
    "run",
]
