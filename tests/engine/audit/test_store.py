"""The audit file: retention by age and by size, ids that are never reused, the schema."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from engine.audit import AuditReader
from engine.audit.rows import make_row
from engine.audit.store import Row, open_store
from engine.core import Engine, ManualClock
from tests.engine.audit.sample import WALL_START, audit_log, kinds, read, run

HOUR = 3600.0


def filler(count: int, *, start: float = WALL_START, user: str = "alice") -> list[Row]:
    """``count`` rows of about 1 KiB each, one a second from ``start``."""
    return [
        make_row(
            "filler",
            start + number,
            "admin-request",
            {"n": number, "pad": "x" * 1000},
            identity=("10.0.0.5", user),
        )
        for number in range(count)
    ]


def test_rows_older_than_the_retention_are_deleted_at_start(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    runs: list[str | None] = []

    async def one_run() -> None:
        log = audit_log(engine, path, clock, wall, retention=HOUR)
        await log.start()
        runs.append(log.run)
        await log.stop()

    run(one_run())
    wall.advance(HOUR / 2)
    run(one_run())
    wall.advance(HOUR / 2 + 1)
    run(one_run())
    first, second, third = runs
    assert [(row.run, row.kind) for row in read(path)] == [
        (second, "service-started"), (second, "service-stopped"),
        (third, "service-started"), (third, "service-stopped"),
    ]  # fmt: skip
    assert first not in {row.run for row in read(path)}


def test_retention_also_runs_while_the_log_is_open(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    remaining: list[list[str]] = []

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall, retention=HOUR, trim_interval=0.01)
        await log.start()
        await log.record("admin-request", "uid 0 (root)", {})
        wall.advance(2 * HOUR)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            written = kinds(read(path))
            if "admin-request" not in written:
                remaining.append(written)
                break
            await asyncio.sleep(0.01)
        await log.stop()

    run(scenario())
    assert remaining == [[]]
    assert kinds(read(path)) == ["service-stopped"]


def test_a_file_past_max_bytes_loses_its_oldest_rows_and_shrinks(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    store = open_store(path)
    store.insert(filler(4000))
    store.close()
    assert path.stat().st_size > 4_000_000
    limit = 1_000_000

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall, max_bytes=limit)
        await log.start()
        await log.stop()

    run(scenario())
    assert path.stat().st_size <= limit
    rows = read(path)
    assert kinds(rows)[-2:] == ["service-started", "service-stopped"]
    fillers = [row.detail["n"] for row in rows if row.run == "filler"]
    assert 400 < len(fillers) < 1000
    assert fillers == list(range(4000 - len(fillers), 4000))


def test_trimming_by_size_gets_under_ninety_percent(path: Path) -> None:
    store = open_store(path)
    for user in ("alice", "bob", "carol"):
        store.insert(filler(1000, user=user))
    limit = 2_000_000
    deleted = store.trim(WALL_START - HOUR, limit)
    size = store.size()
    store.close()
    assert size <= 0.9 * limit
    assert 0 < deleted < 3000
    with AuditReader(path) as reader:
        assert len(reader.query()) == 3000 - deleted


def test_ids_are_never_reused_after_every_row_is_deleted(path: Path) -> None:
    store = open_store(path)
    store.insert(filler(3))
    assert store.trim(WALL_START + 10, 10**9) == 3
    store.insert(filler(1))
    store.close()
    assert [row.id for row in read(path)] == [4]


def test_the_file_is_in_wal_mode_with_incremental_vacuum(path: Path) -> None:
    open_store(path).close()
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA auto_vacuum").fetchone() == (2,)
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    finally:
        connection.close()
    assert meta == {"application": "fwx-audit", "schema_version": "1"}


def test_a_failed_insert_writes_nothing(path: Path) -> None:
    store = open_store(path)
    rows = filler(2)
    broken = (*rows[1][:3], None, *rows[1][4:])
    with pytest.raises(sqlite3.IntegrityError):
        store.insert([rows[0], broken])  # type: ignore[list-item]
    store.insert(rows[:1])
    store.close()
    assert [row.detail["n"] for row in read(path)] == [0]
