"""Clocks for the engine: the engine never reads the time itself, it is given a clock.

Any ``Callable[[], float]`` returning seconds works (``time.monotonic`` in the
service). :class:`ManualClock` is the one tests and ``fwx simulate`` use: time
moves only when told to, so every time-out is deterministic.
"""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it."""

    __slots__ = ("now",)

    def __init__(self, start: float = 0.0) -> None:
        """Start at ``start`` seconds."""
        self.now = start

    def __call__(self) -> float:
        """The current time in seconds."""
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        self.now += seconds
        return self.now

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now})"
