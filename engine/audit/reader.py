"""Reading the audit log (``fwx log``), read-only, possibly while the service writes it.

The reader opens the file read-only; WAL mode lets it read committed rows
while the writer adds more. Every filter is a column with an index, and
``after_id`` makes ``--follow`` a cheap poll for rows newer than the last
one seen.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.audit.store import AuditError, check_schema, refusal

__all__ = ["AuditReader", "AuditRecord"]

_BUSY_TIMEOUT = 5.0
_SELECT = (
    "SELECT id, run, seq, time, kind, bind_id, session_id, client, user, actor, verdict, detail"
    " FROM events"
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audit log: an engine event (``seq`` set) or a record (``seq`` None)."""

    id: int
    run: str
    seq: int | None
    time: float
    """Wall-clock seconds (Unix time)."""
    kind: str
    bind_id: int | None
    session_id: int | None
    client: str | None
    user: str | None
    actor: str | None
    verdict: str | None
    detail: dict[str, object]


class AuditReader:
    """A read-only view of an audit log file."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` read-only; AuditError (one line) when it is missing or not an audit log."""
        self.path = path
        if not path.is_file():
            raise AuditError(f"{path}: no audit log here")
        uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            self._connection = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT)
        except sqlite3.Error as exc:
            raise refusal(path, exc) from None
        try:
            check_schema(self._connection, path)
        except AuditError:
            self._connection.close()
            raise

    def query(
        self,
        *,
        bind_id: int | None = None,
        user: str | None = None,
        since: float | None = None,
        verdict: str | None = None,
        kinds: Sequence[str] | None = None,
        run: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Rows matching every filter given, oldest first.

        ``since`` is wall-clock seconds; ``after_id`` keeps rows with a
        larger id (for following); with ``limit``, the newest ``limit``
        matching rows, still oldest first.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        where: list[str] = []
        parameters: list[object] = []
        if after_id:
            where.append("id > ?")
            parameters.append(after_id)
        for column, value in (("bind_id", bind_id), ("user", user), ("verdict", verdict)):
            if value is not None:
                where.append(f"{column} = ?")
                parameters.append(value)
        if run is not None:
            where.append("run = ?")
            parameters.append(run)
        if since is not None:
            where.append("time >= ?")
            parameters.append(since)
        if kinds is not None:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            parameters.extend(kinds)
        statement = f"{_SELECT} WHERE {' AND '.join(where)}" if where else _SELECT
        if limit is None:
            statement += " ORDER BY id"
        else:
            statement = f"SELECT * FROM ({statement} ORDER BY id DESC LIMIT ?) ORDER BY id"
            parameters.append(limit)
        return [_record(row) for row in self._fetch(statement, parameters)]

    def latest_run(self) -> str | None:
        """The run of the newest row, or None for an empty log."""
        rows = self._fetch("SELECT run FROM events ORDER BY id DESC LIMIT 1", [])
        return str(rows[0][0]) if rows else None

    def close(self) -> None:
        """Close the file."""
        self._connection.close()

    def __enter__(self) -> AuditReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _fetch(self, statement: str, parameters: list[object]) -> list[tuple[Any, ...]]:
        try:
            return self._connection.execute(statement, parameters).fetchall()
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot read the audit log: {exc}") from None


def _record(row: tuple[Any, ...]) -> AuditRecord:
    row_id, run, seq, time, kind, bind_id, session_id, client, user, actor, verdict, detail = row
    loaded = json.loads(detail)
    return AuditRecord(
        row_id, run, seq, time, kind, bind_id, session_id, client, user, actor, verdict,
        loaded if isinstance(loaded, dict) else {"value": loaded},
    )  # fmt: skip
