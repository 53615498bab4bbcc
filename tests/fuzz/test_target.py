"""The fuzz targets' own machinery: the per-input time limit and the input counter."""

from __future__ import annotations

import signal

import pytest
from hypothesis import strategies as st

from tests.fuzz.target import Hang, Target, attempt, time_limit


def loop_for_ever() -> None:
    while True:
        pass


def test_an_input_that_loops_fails_as_a_hang() -> None:
    with pytest.raises(Hang), time_limit(0.2):
        loop_for_ever()


def test_a_running_timer_and_its_handler_are_put_back() -> None:
    def outer_handler(signum: int, frame: object) -> None:
        raise AssertionError("the outer timer fired")

    previous = signal.signal(signal.SIGALRM, outer_handler)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        with time_limit(1.0):
            pass
        assert 99.0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100.0
        assert signal.getsignal(signal.SIGALRM) is outer_handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_target_counts_the_inputs_it_tried_and_reports_a_failure() -> None:
    seen: list[int] = []
    counting = Target("count", st.integers(0, 1000), seen.append)
    assert counting.run(40) == len(seen) == counting.runs
    failing = Target("fail", st.integers(0, 1000), lambda value: None if value < 500 else 1 / 0)
    assert isinstance(attempt(lambda: failing.run(200), ZeroDivisionError), ZeroDivisionError)
