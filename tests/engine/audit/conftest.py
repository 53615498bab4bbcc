"""Fixtures of the audit tests: manual engine and wall clocks, an engine, a path for the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core import Engine, ManualClock
from tests.engine.audit.sample import WALL_START, build_engine


@pytest.fixture
def clock() -> ManualClock:
    """The engine's clock."""
    return ManualClock(1000.0)


@pytest.fixture
def wall() -> ManualClock:
    """The wall clock the audit log stamps rows with."""
    return ManualClock(WALL_START)


@pytest.fixture
def engine(clock: ManualClock) -> Engine:
    return build_engine(clock)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where the audit log goes: a folder that does not exist yet."""
    return tmp_path / "audit" / "fwx-audit.db"
