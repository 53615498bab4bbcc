"""`fwx log`: the audit log's history — who allowed what, when, and what was discarded.

Reads the audit SQLite file directly (read-only), so it works with the
service stopped and never slows a running one. Rows are printed oldest
first, one line each (``TIME KIND bind=N session=N who by=ACTOR
verdict=V key=value …``), or one JSON object per line with ``--json``;
with a ``--limit`` the newest rows that match are shown. ``--follow`` then
keeps printing matching rows as the service writes them, until Ctrl-C.

Exit codes (see :class:`console.cli.common.ExitCode`): 0 done (also when
``--follow`` is stopped with Ctrl-C); 2 bad command line; 3 the audit log is
missing, unreadable or not an fwx audit log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from console.cli.common import ExitCode, fail
from console.cli.service_options import AUDIT_ENV, default_audit_path, parse_duration
from engine.admin.convert import key_values, value_text
from engine.audit import AuditError, AuditReader, AuditRecord

__all__ = ["POLL_INTERVAL", "log", "record_line"]

POLL_INTERVAL = 0.5
"""Seconds between two looks for new rows with ``--follow``."""


class Verdict(enum.StrEnum):
    """The verdicts ``--verdict`` picks."""

    ACCEPT = "accept"
    DISCARD = "discard"


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


def log(
    bind: Annotated[
        int | None, typer.Option("--bind", help="Only rows about this bind.", metavar="ID")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Only rows about this user.", metavar="USER")
    ] = None,
    since: Annotated[
        float | None,
        typer.Option(
            "--since",
            parser=_duration,
            help="Only rows of the last DURATION (e.g. 90s, 10m, 2h, 7d).",
            metavar="DURATION",
        ),
    ] = None,
    verdict: Annotated[
        Verdict | None, typer.Option("--verdict", help="Only accepted or discarded traffic.")
    ] = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Only rows of this kind (e.g. bind-allowed, discard-summary, operator-allow); "
            "repeat for more.",
            metavar="KIND",
        ),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Only rows of one service run: `latest`, or a run id (as --json shows it). "
            "Bind and session ids start again with each run.",
            metavar="RUN",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="Show at most the newest N rows.", min=1, metavar="N")
    ] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new rows until Ctrl-C.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per row, one per line.")
    ] = False,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            "--audit",
            envvar=AUDIT_ENV,
            help="The audit log (default: as `fwx serve`: $FWX_AUDIT_DB, /var/lib/fwx/"
            "audit.sqlite for root, else $XDG_STATE_HOME/fwx/audit.sqlite).",
            metavar="PATH",
            show_default=False,
            readable=False,
        ),
    ] = None,
) -> None:
    """Show the audit log: every engine event and operator action, oldest first."""
    path = db if db is not None else default_audit_path()
    filters: dict[str, Any] = {
        "bind_id": bind,
        "user": user,
        "since": None if since is None else time.time() - since,
        "verdict": None if verdict is None else verdict.value,
        "kinds": kinds or None,
    }
    with _reading(path) as reader:
        filters["run"] = reader.latest_run() if run == "latest" else run
        try:
            rows = reader.query(**filters, limit=limit)
            _print(rows, as_json)
            if follow:
                _follow(reader, filters, _last_id(reader, rows), as_json)
        except KeyboardInterrupt:
            if not follow:
                raise


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[AuditReader]:
    """The open audit log; any failure to read it is one line and exit 3."""
    try:
        with AuditReader(path) as reader:
            yield reader
    except AuditError as err:
        fail(str(err), ExitCode.IO_ERROR)
    except BrokenPipeError:
        _quiet_stdout()


def _last_id(reader: AuditReader, rows: Sequence[AuditRecord]) -> int:
    """Where following starts: after the rows shown, or after every row when none matched."""
    if rows:
        return rows[-1].id
    newest = reader.query(limit=1)
    return newest[-1].id if newest else 0


def _follow(reader: AuditReader, filters: dict[str, Any], last_id: int, as_json: bool) -> None:
    """Print matching rows as they are written, forever (Ctrl-C ends the command)."""
    while True:
        time.sleep(POLL_INTERVAL)
        rows = reader.query(**filters, after_id=last_id)
        if rows:
            _print(rows, as_json)
            last_id = rows[-1].id


def _print(rows: Sequence[AuditRecord], as_json: bool) -> None:
    for row in rows:
        typer.echo(
            json.dumps(dataclasses.asdict(row), ensure_ascii=False) if as_json else record_line(row)
        )


def _quiet_stdout() -> None:
    """After a closed pipe (``fwx log | head``): end quietly, with nothing left to flush."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def record_line(record: AuditRecord) -> str:
    """One line for a row: local time, kind, ids, who, actor, verdict, then its details."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.time))
    parts = [stamp, record.kind]
    if record.bind_id is not None:
        parts.append(f"bind={record.bind_id}")
    if record.session_id is not None:
        parts.append(f"session={record.session_id}")
    if record.client is not None:
        parts.append(record.client if record.user is None else f"{record.user}@{record.client}")
    if record.actor is not None:
        parts.append(f"by={value_text(record.actor)}")
    if record.verdict is not None:
        parts.append(f"verdict={record.verdict}")
    if record.detail:
        parts.append(key_values(record.detail))
    return " ".join(parts)
