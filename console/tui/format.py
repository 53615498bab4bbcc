"""How the console spells values: ages, times, states (text first, colour second).

A state is always readable as a word (``PENDING``); colour only helps the eye.
"""

from __future__ import annotations

import time

from rich.text import Text

from engine.core.results import HResult

__all__ = ["STATE_STYLES", "age", "clock_time", "hresult_text", "state_text"]

STATE_STYLES = {
    "pending": "bold yellow",
    "allowed": "bold green",
    "terminating": "bold red",
    "closed": "dim",
}


def state_text(state: str) -> Text:
    """The state as an upper-case word in its colour."""
    return Text(state.upper(), style=STATE_STYLES.get(state, ""))


def age(seconds: float) -> str:
    """A short age: ``42s``, ``7m``, ``3h``, ``2d`` (never negative)."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h"
    return f"{whole // 86400}d"


def clock_time(wall: float) -> str:
    """``HH:MM:SS`` in local time."""
    return time.strftime("%H:%M:%S", time.localtime(wall))


def hresult_text(result: HResult) -> str:
    """``S_FALSE (0x00000001): meaning`` — the name people know, its value, what it means."""
    return f"{result.label} ({result.hex}): {result.meaning}"
