"""The audit log's SQLite file: schema, opening, batched inserts and trimming.

One file holds the rows of every run in the ``events`` table, in ``id``
order (AUTOINCREMENT: an id is never reused, even after old rows are
deleted, so ``fwx log --follow`` can poll ``id > last``). A ``meta`` table
marks the file as an fwx audit log and holds the schema version; any other
file is refused. The file is in WAL mode, so ``fwx log`` reads while the
service writes, and is created with ``auto_vacuum=INCREMENTAL`` so deleting
old rows really shrinks it. Everything here blocks: only the writer thread
and the reader (``fwx log``, another process) call it, never the event loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

__all__ = [
    "APPLICATION",
    "COLUMNS",
    "SCHEMA_VERSION",
    "AuditError",
    "Row",
    "Store",
    "check_schema",
    "open_store",
    "refusal",
]

APPLICATION = "fwx-audit"
"""The ``meta`` table's ``application`` value: this file is an fwx audit log."""
SCHEMA_VERSION = 1
"""The layout this code writes and reads."""

Row: TypeAlias = tuple[
    str, int | None, float, str, int | None, int | None, str | None, str | None, str | None,
    str | None, str,
]  # fmt: skip
"""One row as inserted: the :data:`COLUMNS`, in order (``detail`` is JSON text)."""

COLUMNS = (
    "run", "seq", "time", "kind", "bind_id", "session_id", "client", "user", "actor", "verdict",
    "detail",
)  # fmt: skip
"""The columns a :data:`Row` fills (``id`` is assigned by SQLite)."""

_BUSY_TIMEOUT = 5.0
"""Seconds to wait for another connection's lock before a statement fails."""
_TRIM_TARGET = 0.9
"""Trimming by size deletes the oldest rows until the file is under this share of the limit."""
_TRIM_ROUNDS = 8
"""Delete-and-measure rounds a size trim makes at most (each deletes a measured share)."""

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run TEXT NOT NULL,
        seq INTEGER,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        bind_id INTEGER,
        session_id INTEGER,
        client TEXT,
        user TEXT,
        actor TEXT,
        verdict TEXT,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX events_time ON events (time)",
    "CREATE INDEX events_kind ON events (kind)",
    "CREATE INDEX events_bind ON events (bind_id) WHERE bind_id IS NOT NULL",
    "CREATE INDEX events_user ON events (user) WHERE user IS NOT NULL",
    "CREATE INDEX events_verdict ON events (verdict) WHERE verdict IS NOT NULL",
)
_DELETE_OLDEST = (
    "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id LIMIT 1 OFFSET ?)"
)
"""Deletes the oldest rows: as many as the parameter plus one."""
_INSERT = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class AuditError(Exception):
    """The audit log cannot be used; the message is one line for the operator (path and why)."""


def refusal(path: Path, exc: sqlite3.Error) -> AuditError:
    """The one-line error for ``exc`` met while opening ``path``."""
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
        return AuditError(f"{path}: not an fwx audit log (not an SQLite database)")
    return AuditError(f"{path}: cannot open the audit log: {exc}")


def check_schema(connection: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`AuditError` unless ``connection`` holds an fwx audit log this code reads."""
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_ERROR":  # no meta table
            raise AuditError(f"{path}: not an fwx audit log") from None
        raise refusal(path, exc) from None
    if meta.get("application") != APPLICATION:
        raise AuditError(f"{path}: not an fwx audit log")
    version = meta.get("schema_version")
    if version != str(SCHEMA_VERSION):
        raise AuditError(
            f"{path}: audit log schema version {version}; this fwx reads version {SCHEMA_VERSION}"
        )


def open_store(path: Path) -> Store:
    """Open (creating if need be) the audit log at ``path`` for writing.

    A missing parent folder is created with mode 0700 and a missing file
    with 0600 (SQLite gives its ``-wal`` and ``-shm`` files the same mode).
    Raises :class:`AuditError` when the file cannot be created or opened,
    or is not an fwx audit log.
    """
    _prepare(path)
    try:
        connection = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise refusal(path, exc) from None
    try:
        _initialise(connection, path)
    except sqlite3.Error as exc:
        connection.close()
        raise refusal(path, exc) from None
    except AuditError:
        connection.close()
        raise
    return Store(connection, path)


def _prepare(path: Path) -> None:
    """Create the parent folder (0700) and the file (0600) when they are missing."""
    parent = path.parent
    try:
        if not parent.exists():
            parent.mkdir(parents=True, mode=0o700)
            parent.chmod(0o700)
        if not path.exists():
            descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            try:
                os.fchmod(descriptor, 0o600)
            finally:
                os.close(descriptor)
    except OSError as exc:
        raise AuditError(f"{path}: cannot create the audit log: {exc.strerror}") from None


def _initialise(connection: sqlite3.Connection, path: Path) -> None:
    """Create the schema in an empty database, check it, and set WAL and durable commits."""
    empty = connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 0
    if empty:
        connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
        _wal(connection, path)
        connection.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION))],
        )
        connection.execute("COMMIT")
    check_schema(connection, path)
    _wal(connection, path)
    connection.execute("PRAGMA synchronous = FULL")


def _wal(connection: sqlite3.Connection, path: Path) -> None:
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise AuditError(f"{path}: cannot put the audit log in WAL mode (journal mode {mode})")


class Store:
    """An open audit log, written by one thread: inserts in one transaction, trims old rows."""

    __slots__ = ("_connection", "path")

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        """Wrap an open, checked ``connection`` to ``path`` (see :func:`open_store`)."""
        self._connection = connection
        self.path = path

    def insert(self, rows: Sequence[Row]) -> None:
        """Insert ``rows`` in one transaction: all of them are durable, or none.

        Raises ``sqlite3.Error`` (disk full, read-only, I/O error) after
        rolling back.
        """
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(_INSERT, rows)
            connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def trim(self, oldest: float, max_bytes: int) -> int:
        """Delete rows older than ``oldest`` (wall seconds), then shrink the file under the limit.

        When the database and its WAL pass ``max_bytes``, the oldest rows go
        until the file is under about 90% of it. Returns the rows deleted;
        raises ``sqlite3.Error`` when the file cannot be written.
        """
        deleted = self._delete("DELETE FROM events WHERE time < ?", oldest)
        if deleted:
            self._shrink()
        if self.size() <= max_bytes:
            return deleted
        self._checkpoint()
        target = max_bytes * _TRIM_TARGET
        for _ in range(_TRIM_ROUNDS):
            size = self.size()
            count = self._connection.execute("SELECT count(*) FROM events").fetchone()[0]
            if size <= target or count == 0:
                break
            doomed = min(count, math.ceil(count * (1 - target / size)))
            deleted += self._delete(_DELETE_OLDEST, doomed - 1)
            self._shrink()
        return deleted

    def size(self) -> int:
        """Bytes the audit log takes on disk: the database file and its WAL."""
        total = 0
        for name in (str(self.path), f"{self.path}-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(name).st_size
        return total

    def close(self) -> None:
        """Close the connection (SQLite checkpoints the WAL into the file)."""
        self._connection.close()

    def _delete(self, statement: str, parameter: float) -> int:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            deleted = connection.execute(statement, (parameter,)).rowcount
            connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return deleted

    def _shrink(self) -> None:
        """Give free pages back to the file system and fold the WAL in, so the file shrinks."""
        self._connection.executescript("PRAGMA incremental_vacuum")
        self._checkpoint()

    def _checkpoint(self) -> None:
        self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _rollback(self) -> None:
        if self._connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
