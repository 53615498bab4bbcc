"""ManualClock: time moves only when a test says so."""

from __future__ import annotations

import pytest

from engine.core.clock import ManualClock


def test_manual_clock_stands_still_until_advanced() -> None:
    clock = ManualClock(5.0)
    assert clock() == 5.0
    assert clock() == 5.0
    assert clock.advance(2.5) == 7.5
    assert clock() == clock.now == 7.5


def test_manual_clock_refuses_to_go_back() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
    assert clock() == 0.0
