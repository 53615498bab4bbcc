"""The audit log: every engine event, and every operator action, persisted to SQLite.

:class:`AuditLog` subscribes to the engine and, every ``flush_interval``,
drains the subscription, turns the events into rows on the event loop (a
dictionary lookup and a ``json.dumps`` each) and hands the batch to the
writer thread, which commits it in one transaction. The loop never waits on
the disk. Per-packet discards are never events: the engine's one
``discard-summary`` per bind and interval is what gets stored.

What a crash can lose. ``record()`` returns only once its row, and every
event emitted before it, is committed: an acknowledged operator action is
never lost. ``stop()`` (SIGTERM) writes everything. On SIGKILL or a power
cut, what is lost is exactly the events emitted after the last committed
batch: those of the current ``flush_interval`` (1 s by default), plus any
batch the writer had not finished committing (only ever more than one when
the disk is slow or failing; ``stats.pending`` shows how many rows wait).
The file itself stays consistent (SQLite WAL, ``synchronous=FULL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping

from engine.audit.options import AuditOptions, AuditStats
from engine.audit.rows import RowMaker, run_id
from engine.audit.writer import Writer
from engine.core import Engine, Subscription

__all__ = ["AuditLog"]

logger = logging.getLogger("fwx.audit")


class AuditLog:
    """Writes one service run's events and operator records to the audit file."""

    def __init__(
        self,
        engine: Engine,
        options: AuditOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """An audit log of ``engine``, whose clock is ``clock``; nothing opens until ``start``."""
        self._engine = engine
        self._options = options
        self._clock = clock
        self._wall = wall_clock
        self._maker: RowMaker | None = None
        self._writer: Writer | None = None
        self._subscription: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def run(self) -> str | None:
        """This run's id (the ``run`` column of its rows), once started."""
        return None if self._maker is None else self._maker.run

    @property
    def stats(self) -> AuditStats:
        """What has been written, missed and lost so far, and the latest write error."""
        writer = self._writer
        maker = self._maker
        return AuditStats(
            path=self._options.path,
            rows_written=0 if writer is None else writer.rows_written,
            batches=0 if writer is None else writer.batches,
            missed=0 if maker is None else maker.missed,
            lost=0 if writer is None else writer.lost,
            pending=0 if writer is None else writer.pending,
            last_error=None if writer is None else writer.last_error,
        )

    async def start(self) -> None:
        """Open (or create) the file, subscribe to the engine and start writing.

        Raises :class:`AuditError` (one line: the path and what is wrong)
        when the file cannot be opened or is not an fwx audit log. Writes a
        ``service-started`` row, so every run shows in the log.
        """
        if self._writer is not None:
            raise RuntimeError("this audit log was already started")
        wall = self._wall()
        maker = RowMaker(run_id(wall), self._engine.sessions, self._clock, self._wall)
        maker.learn()
        writer = Writer(self._options, maker.run, self._wall)
        subscription = self._engine.subscribe(self._options.queue_capacity)
        try:
            await asyncio.wrap_future(writer.start())
        except BaseException:
            subscription.close()
            writer.close([])
            raise
        self._maker, self._writer, self._subscription = maker, writer, subscription
        writer.submit([maker.record("service-started", None, {"pid": os.getpid()})])
        self._pump = asyncio.get_running_loop().create_task(self._pump_forever())

    async def record(
        self,
        kind: str,
        actor: str,
        detail: Mapping[str, object],
        *,
        bind_id: int | None = None,
        session_id: int | None = None,
    ) -> None:
        """Record an operator action and return once it is committed (with every earlier event).

        Raises :class:`AuditError` when the write fails; the row stays
        queued and is written by a later attempt.
        """
        maker, writer, subscription = self._running()
        rows = maker.rows(subscription.drain())
        rows.append(maker.record(kind, actor, detail, bind_id=bind_id, session_id=session_id))
        await asyncio.wrap_future(writer.commit(rows))

    async def stop(self) -> None:
        """Write every event emitted so far and a ``service-stopped`` row, then close the file.

        Raises :class:`AuditError` when the last batch cannot be written
        (the file is closed all the same).
        """
        if self._subscription is None or self._maker is None or self._writer is None:
            return
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        maker, writer, subscription = self._maker, self._writer, self._subscription
        self._subscription = None
        rows = maker.rows(subscription.drain())
        subscription.close()
        detail = {"pid": os.getpid(), "missed": maker.missed, "lost": writer.lost}
        rows.append(maker.record("service-stopped", None, detail))
        try:
            await asyncio.wrap_future(writer.close(rows))
        finally:
            await asyncio.wrap_future(writer.finished)
            await asyncio.to_thread(writer.join)

    def _running(self) -> tuple[RowMaker, Writer, Subscription]:
        if self._subscription is None or self._maker is None or self._writer is None:
            raise RuntimeError("the audit log is not running")
        return self._maker, self._writer, self._subscription

    async def _pump_forever(self) -> None:
        """Every ``flush_interval``, hand the events emitted since to the writer."""
        maker, writer, subscription = self._running()
        while True:
            await asyncio.sleep(self._options.flush_interval)
            try:
                rows = maker.rows(subscription.drain())
            except Exception as exc:  # one bad event must not stop the audit log
                logger.error("cannot turn engine events into audit rows: %r", exc)
                continue
            if rows:
                writer.submit(rows)
