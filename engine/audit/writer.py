"""The audit writer: one thread that owns the SQLite file and commits batches handed to it.

The event loop never waits on the disk: it hands over a list of rows
(:meth:`Writer.submit`, a lock held for an append) and carries on. The
thread takes everything handed over, inserts it with ``executemany`` in one
transaction, and settles the futures of callers that wait for durability
(operator records). When a write fails (disk full, read-only file, I/O
error) nothing crashes: the rows stay in memory, bounded by
``max_pending`` (beyond it the oldest are dropped and counted, and a
``rows-lost`` row says so once writing works again), each distinct error
is logged once (until a write succeeds) and kept in ``last_error``, and
the write is retried every ``flush_interval``. The thread also deletes old
rows at start and every ``trim_interval``.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError

from engine.audit.options import AuditOptions
from engine.audit.rows import make_row
from engine.audit.store import AuditError, Row, Store, open_store

__all__ = ["Writer"]

logger = logging.getLogger("fwx.audit")

_Waiter = Future[None]


class Writer:
    """The thread writing one run's rows to the audit log."""

    def __init__(self, options: AuditOptions, run: str, wall_clock: Callable[[], float]) -> None:
        """A writer for ``options.path``; nothing happens until :meth:`start`."""
        self._options = options
        self._run = run
        self._wall = wall_clock
        self._lock = threading.Condition()
        self._inbox: deque[tuple[list[Row], _Waiter | None]] = deque()
        self._inbox_rows = 0
        self._closing = False
        self._broken: AuditError | None = None
        self._pending: deque[Row] = deque()
        self._waiting: list[_Waiter] = []
        self._unreported_lost = 0
        self._logged: set[str] = set()
        self._ready: _Waiter = Future()
        self._finished: _Waiter = Future()
        self._thread = threading.Thread(target=self._main, name="fwx-audit-writer", daemon=True)
        self.rows_written = 0
        """Rows committed so far."""
        self.batches = 0
        """Transactions committed so far."""
        self.lost = 0
        """Rows dropped because too many were waiting while the file could not be written."""
        self.last_error: str | None = None
        """The latest write error, one line; None once a write succeeds."""

    @property
    def pending(self) -> int:
        """Rows handed over and not yet committed."""
        return len(self._pending) + self._inbox_rows

    @property
    def finished(self) -> _Waiter:
        """Settled once the thread has closed the file and ended."""
        return self._finished

    def start(self) -> _Waiter:
        """Start the thread; the future settles once the file is open (or fails with AuditError)."""
        self._thread.start()
        return self._ready

    def submit(self, rows: list[Row]) -> None:
        """Hand ``rows`` to the thread, to be committed with the next batch."""
        self._hand_over(rows, None)

    def commit(self, rows: list[Row]) -> _Waiter:
        """Hand ``rows`` over and get a future settled once they are committed.

        The future fails with :class:`AuditError` when the attempt to write
        them fails; the rows stay queued for the next attempt all the same.
        """
        waiter: _Waiter = Future()
        self._hand_over(rows, waiter)
        return waiter

    def close(self, rows: list[Row]) -> _Waiter:
        """Write ``rows`` as the last batch, then close the file and end the thread.

        The returned future settles once the last batch is committed (or
        fails with AuditError); :attr:`finished` once the thread has ended.
        """
        waiter: _Waiter = Future()
        self._hand_over(rows, waiter, closing=True)
        return waiter

    def join(self) -> None:
        """Wait for the thread to end (call after :meth:`close`)."""
        self._thread.join()

    def _hand_over(self, rows: list[Row], waiter: _Waiter | None, *, closing: bool = False) -> None:
        """Append to the inbox; past ``max_pending`` rows the oldest batches are dropped."""
        with self._lock:
            if self._broken is not None:
                self._count_lost(len(rows))
                if waiter is not None:
                    _settle(waiter, self._broken)
                return
            self._inbox.append((rows, waiter))
            self._inbox_rows += len(rows)
            while self._inbox_rows > self._options.max_pending and len(self._inbox) > 1:
                dropped, dropped_waiter = self._inbox.popleft()
                self._inbox_rows -= len(dropped)
                self._count_lost(len(dropped))
                if dropped_waiter is not None:
                    _settle(
                        dropped_waiter, AuditError(f"{self._path}: too many audit rows waiting")
                    )
            self._closing = self._closing or closing
            self._lock.notify()

    # -- the thread ---------------------------------------------------------------------

    @property
    def _path(self) -> str:
        return str(self._options.path)

    def _main(self) -> None:
        try:
            store = open_store(self._options.path)
        except AuditError as exc:
            self._ready.set_exception(exc)
            self._finished.set_result(None)
            return
        self._ready.set_result(None)
        try:
            self._loop(store)
        except Exception as exc:  # a bug here must not leave a caller waiting forever
            self._break(AuditError(f"{self._path}: the audit writer failed: {exc!r}"))
        finally:
            try:
                store.close()
            except sqlite3.Error as exc:
                logger.error("%s: cannot close the audit log: %s", self._path, exc)
            self._finished.set_result(None)

    def _loop(self, store: Store) -> None:
        interval = self._options.trim_interval
        self._trim(store)
        next_trim = time.monotonic() + interval
        while True:
            wait = self._options.flush_interval if self._pending else next_trim - time.monotonic()
            closing = self._collect(wait)
            if self._pending or self._unreported_lost:
                self._write(store)
            else:
                self._settle_waiting()
            if closing:
                if self._pending:
                    logger.error(
                        "%s: %d audit rows were not written before closing",
                        self._path,
                        len(self._pending),
                    )
                return
            if time.monotonic() >= next_trim:
                self._trim(store)
                next_trim = time.monotonic() + interval

    def _collect(self, wait: float) -> bool:
        """Move everything handed over behind the pending rows (waiting up to ``wait`` seconds).

        Past ``max_pending`` rows the oldest are dropped and counted as lost.
        Returns whether to close once they are written.
        """
        with self._lock:
            if not self._inbox and not self._closing and wait > 0:
                self._lock.wait(wait)
            pending = self._pending
            for batch, waiter in self._inbox:
                pending.extend(batch)
                if waiter is not None:
                    self._waiting.append(waiter)
            self._inbox.clear()
            self._inbox_rows = 0
            excess = len(pending) - self._options.max_pending
            if excess > 0:
                for _ in range(excess):
                    pending.popleft()
                self._count_lost(excess)
            return self._closing

    def _count_lost(self, count: int) -> None:
        """Count ``count`` rows as lost (hold the lock)."""
        self.lost += count
        self._unreported_lost += count

    def _write(self, store: Store) -> None:
        """Commit every pending row in one transaction, or keep them all for the next attempt."""
        rows = list(self._pending)
        with self._lock:
            lost = self._unreported_lost
        if lost:
            rows.insert(0, make_row(self._run, self._wall(), "rows-lost", {"lost": lost}))
        try:
            store.insert(rows)
        except sqlite3.Error as exc:
            error = AuditError(f"{self._path}: cannot write the audit log: {exc}")
            self._failed(error)
            self._settle_waiting(error)
            return
        self._pending.clear()
        with self._lock:
            self._unreported_lost -= lost
        self.rows_written += len(rows)
        self.batches += 1
        if self.last_error is not None:
            logger.warning("%s: the audit log is written again", self._path)
        self.last_error = None
        self._logged.clear()
        self._settle_waiting()

    def _settle_waiting(self, error: AuditError | None = None) -> None:
        """Tell every caller waiting on the rows just tried how it went."""
        for waiter in self._waiting:
            _settle(waiter, error)
        self._waiting = []

    def _break(self, error: AuditError) -> None:
        """The thread is ending on an unexpected error: fail every waiter now and from now on."""
        logger.error("%s", error)
        with self._lock:
            self._broken = error
            self.last_error = str(error)
            self._settle_waiting(error)
            for _, waiter in self._inbox:
                if waiter is not None:
                    _settle(waiter, error)

    def _trim(self, store: Store) -> None:
        options = self._options
        try:
            deleted = store.trim(self._wall() - options.retention, options.max_bytes)
        except sqlite3.Error as exc:
            self._failed(AuditError(f"{self._path}: cannot delete old audit rows: {exc}"))
            return
        if deleted:
            logger.info("%s: deleted %d old audit rows", self._path, deleted)

    def _failed(self, error: AuditError) -> None:
        """Remember ``error``; log it unless it was logged since the last successful write."""
        message = str(error)
        self.last_error = message
        if message not in self._logged:
            logger.error("%s", message)
            self._logged.add(message)


def _settle(waiter: _Waiter, error: AuditError | None = None) -> None:
    """Settle ``waiter`` unless its caller already gave up on it."""
    with contextlib.suppress(InvalidStateError):
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
