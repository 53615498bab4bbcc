"""What survives a SIGKILL: the audit log in a process of its own (``child.py``), killed.

The test needs no timing assumption: a record's ``durable N`` mark is
printed only after the record returned, so every event up to N must be in
the file; events after it may or may not be, but the file always holds a
gap-free prefix of the run.
"""

from __future__ import annotations

import signal
from pathlib import Path

from engine.audit import AuditReader
from tests.engine.audit.sample import child, kinds

DURABLE_MARKS = 3
"""Records the crash test waits to see acknowledged before it kills the child."""
EVENTS_AFTER = 50
"""Events it lets the child emit after the last acknowledged record."""


def test_after_sigkill_every_acknowledged_record_and_earlier_event_is_there(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    process = child("crash", str(path))
    assert process.stdout is not None
    durable: list[int] = []
    emitted: list[int] = []
    try:
        while (
            len(durable) < DURABLE_MARKS or emitted[-1] < durable[DURABLE_MARKS - 1] + EVENTS_AFTER
        ):
            line = process.stdout.readline()
            assert line, f"the child ended early: {process.communicate()[1]}"
            word, number = line.split()
            (durable if word == "durable" else emitted).append(int(number))
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    with AuditReader(path) as reader:
        rows = reader.query(run=reader.latest_run())
    seqs = [row.seq for row in rows if row.seq is not None]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= durable[-1]
    probes = [row.detail["after"] for row in rows if row.kind == "probe"]
    assert probes[: len(durable)] == durable
    assert kinds(rows)[0] == "service-started"
    assert "service-stopped" not in kinds(rows)
