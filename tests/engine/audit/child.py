"""The audit log in a process of its own, for the tests that kill it or fill its disk.

``python -m tests.engine.audit.child crash PATH`` emits events steadily and
prints ``emitted SEQ`` for each, and ``durable SEQ`` each time a record
returns (every event up to SEQ is then committed), until it is killed.

``python -m tests.engine.audit.child full PATH MAX_PENDING`` makes the file
unwritable with ``RLIMIT_FSIZE`` (the kernel refuses to extend any file, as
on a full disk), emits events and records that fail, lifts the limit, and
prints one JSON line of what it saw.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import signal
import sys
import time
from pathlib import Path

from engine.audit import AuditError, AuditLog, AuditOptions
from engine.core import Event
from tests.engine.audit.sample import build_engine

CRASH_LIMIT = 60.0
"""Seconds the crash child runs if nobody kills it."""
WEB = ("203.0.113.80", 80)


async def crash(path: Path) -> None:
    """Emit events steadily, printing each seq, and each record's ``durable`` mark."""
    engine = build_engine(time.monotonic)
    watch = engine.subscribe(1_000_000)
    log = AuditLog(engine, AuditOptions(path, flush_interval=0.2))
    await log.start()
    session = engine.session("10.0.0.5", "alice")
    last = 0
    deadline = time.monotonic() + CRASH_LIMIT
    round_number = 0
    while time.monotonic() < deadline:
        round_number += 1
        engine.connect(session, WEB)
        last = _print_emitted(watch.drain(), last)
        if round_number % 40 == 0:
            await log.record("probe", "test", {"after": last})
            print("durable", last, flush=True)
        await asyncio.sleep(0.002)


def _print_emitted(items: list[object], last: int) -> int:
    for item in items:
        if isinstance(item, Event):
            print("emitted", item.seq, flush=True)
            last = item.seq
    return last


async def full(path: Path, max_pending: int) -> None:
    """Fail writes with RLIMIT_FSIZE, then lift it; print what the log reported."""
    errors: list[str] = []
    handler = _Collect(errors)
    logging.getLogger("fwx.audit").addHandler(handler)
    engine = build_engine(time.monotonic)
    log = AuditLog(engine, AuditOptions(path, flush_interval=0.05, max_pending=max_pending))
    await log.start()
    session = engine.session("10.0.0.5", "alice")
    await log.record("probe", "test", {"step": "before"})
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
    failures = []
    for step in ("during-1", "during-2"):
        for _ in range(10):
            engine.connect(session, WEB)
        try:
            await log.record("probe", "test", {"step": step})
        except AuditError as exc:
            failures.append(str(exc))
        await asyncio.sleep(0.3)
    during = log.stats
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    deadline = time.monotonic() + 20
    while log.stats.pending and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    recovered = log.stats
    await log.record("probe", "test", {"step": "after"})
    await log.stop()
    report = {
        "failures": failures,
        "logged": errors,
        "during": {"pending": during.pending, "last_error": during.last_error},
        "recovered": {"pending": recovered.pending, "last_error": recovered.last_error},
        "lost": log.stats.lost,
    }
    print(json.dumps(report), flush=True)


class _Collect(logging.Handler):
    """Keeps the message of every error the audit log logs."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "crash":
        asyncio.run(crash(path))
    else:
        asyncio.run(full(path, int(sys.argv[3])))


if __name__ == "__main__":
    main()
