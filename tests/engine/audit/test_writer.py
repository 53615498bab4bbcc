"""The writer thread: a full disk, recovery, the memory bound, and a writer that breaks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.audit import AuditError, AuditRecord
from engine.audit.store import Store
from engine.core import Engine, ManualClock
from tests.engine.audit.sample import audit_log, child, kinds, read, run


def full_disk(path: Path, max_pending: int) -> tuple[dict[str, Any], list[AuditRecord]]:
    """Run the child that fills its disk (see ``child.py``): its report and the rows on disk.

    While the file cannot grow, the child hands over 22 rows in two records
    of 11 (ten connects and the record itself), both of which fail.
    """
    process = child("full", str(path), str(max_pending))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return json.loads(out), read(path)


def test_a_full_disk_keeps_rows_in_memory_logs_once_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    report, rows = full_disk(path, 1000)
    error = f"{path}: cannot write the audit log: disk I/O error"
    assert report["failures"] == [error, error]
    assert report["logged"] == [error]
    assert report["during"] == {"pending": 22, "last_error": error}
    assert report["recovered"] == {"pending": 0, "last_error": None}
    assert report["lost"] == 0
    assert [row.detail["step"] for row in rows if row.kind == "probe"] == [
        "before", "during-1", "during-2", "after",
    ]  # fmt: skip
    assert [row.seq for row in rows if row.seq is not None] == list(range(1, 22))
    assert "rows-lost" not in kinds(rows)


def test_past_max_pending_the_oldest_rows_are_lost_and_the_loss_is_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    report, rows = full_disk(path, 5)
    assert report["during"]["pending"] == 5
    assert report["recovered"] == {"pending": 0, "last_error": None}
    assert report["lost"] == 17
    assert [row.detail["step"] for row in rows if row.kind == "probe"] == [
        "before", "during-2", "after",
    ]  # fmt: skip
    assert [row.seq for row in rows if row.seq is not None] == [1, 18, 19, 20, 21]
    written = kinds(rows)
    (note,) = [row for row in rows if row.kind == "rows-lost"]
    assert note.detail == {"lost": 17}
    assert written[written.index("rows-lost") + 1] == "connect"


def test_a_writer_that_breaks_fails_its_callers_instead_of_leaving_them_waiting(
    engine: Engine,
    clock: ManualClock,
    wall: ManualClock,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_insert(self: Store, rows: object) -> None:
        raise RuntimeError("a bug")

    failures: list[str] = []

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall)
        await log.start()
        monkeypatch.setattr(Store, "insert", broken_insert)
        for _ in range(2):
            with pytest.raises(AuditError) as caught:
                await log.record("admin-request", "uid 0 (root)", {})
            failures.append(str(caught.value))
        with pytest.raises(AuditError) as stopped:
            await log.stop()
        failures.append(str(stopped.value))

    run(scenario())
    broken = f"{path}: the audit writer failed: RuntimeError('a bug')"
    assert failures == [broken, broken, broken]
