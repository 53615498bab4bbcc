"""What every fuzz target shares: a property, the inputs to try it on, a time limit per input.

A :class:`Target` is a ``check`` (a function of one input that returns when
the code under test behaved, and raises ``AssertionError`` otherwise) and the
hypothesis ``strategy`` that draws its inputs. The tests in ``tests/fuzz``
run each target briefly and deterministically (:data:`CI_EXAMPLES`);
``bench/fuzz.py`` runs the same targets for as long as asked, with random
seeds, and can hand a target to atheris through :meth:`Target.hypothesis_test`.

Every input runs under :func:`time_limit`: a parser that loops on some input
fails that example after :data:`EXAMPLE_SECONDS` with :class:`Hang` instead
of stalling the run (pytest-timeout alone is no help: hypothesis takes its
time-out for an ordinary failure and starts shrinking).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)

CI_EXAMPLES = 150
"""Inputs per target in a test run."""

EXAMPLE_SECONDS = 5.0
"""The longest one input may take before it counts as a hang."""


class Hang(AssertionError):
    """An input took longer than the time limit: the code under test probably loops."""


@contextlib.contextmanager
def time_limit(seconds: float = EXAMPLE_SECONDS) -> Iterator[None]:
    """Raise :class:`Hang` in the block after ``seconds`` (main thread only, SIGALRM).

    A timer already running (pytest-timeout's) is put back afterwards with
    the time it had left; when it would fire first, or when SIGALRM belongs
    to code outside Python (libFuzzer's own time-out), it is left alone.
    """
    outer, interval = signal.getitimer(signal.ITIMER_REAL)
    foreign = signal.getsignal(signal.SIGALRM) is None
    if threading.current_thread() is not threading.main_thread() or foreign or 0 < outer <= seconds:
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"one input ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            left = outer - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), interval)


def attempt(call: Callable[[], T], refusal: type[E]) -> T | E:
    """What ``call`` returns, or the ``refusal`` it raises; any other exception goes on."""
    try:
        return call()
    except refusal as error:
        return error


@dataclass
class Target:
    """A named property over a strategy's inputs; ``runs`` counts the inputs tried."""

    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]
    runs: int = field(default=0, init=False)

    def hypothesis_test(self, **overrides: Any) -> Any:
        """The hypothesis test of this target with ``overrides`` of its settings.

        Defaults: no deadline (the time limit stands in for it), no example
        database, the health checks that slow strategies trip switched off.
        """
        options: dict[str, Any] = {
            "deadline": None,
            "database": None,
            "suppress_health_check": [
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
                HealthCheck.large_base_example,
            ],
        }
        options.update(overrides)

        @settings(**options)
        @given(self.strategy)
        def test(value: Any) -> None:
            self.runs += 1
            with time_limit():
                self.check(value)

        return test

    def run(self, max_examples: int = CI_EXAMPLES, **overrides: Any) -> int:
        """Try ``max_examples`` inputs (deterministic unless overridden); the number tried."""
        before = self.runs
        options = {"max_examples": max_examples, "derandomize": True, **overrides}
        self.hypothesis_test(**options)()
        return self.runs - before
