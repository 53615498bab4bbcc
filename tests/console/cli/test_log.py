"""`fwx log`: the audit log of a real service, its filters, --follow, and a stopped service."""

from __future__ import annotations

import asyncio
import json
import selectors
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from console.cli.log import record_line
from engine import Engine
from engine.audit import AuditLog, AuditOptions, AuditRecord
from rules.loader import loads
from rules.starter import STARTER_TEXT
from tests.console.cli.live_service import (
    CLIENT,
    FWX,
    USER,
    LiveService,
    fwx_env,
    live_service,
    one_line,
    run_fwx,
    tcp_bind,
    wait_until,
)
from tests.console.cli.test_binds import knock


def rows(service: LiveService, *options: str) -> list[dict[str, Any]]:
    result = service.cli("log", "--json", *options)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def activity(service: LiveService) -> int:
    """A bind that discarded an attempt, then was allowed by an operator: its id."""
    with tcp_bind(service) as (bind_id, address):
        knock(address)
        wait_until(lambda: (b := service.bind(bind_id)) and b["discarded"], "the discard")
        allowed = service.cli("binds", "allow", str(bind_id), "--protocol", "FTP")
        assert allowed.exit_code == 0

        def summarised() -> bool:
            kinds = [row["kind"] for row in rows(service, "--bind", str(bind_id))]
            return "discard-summary" in kinds and "bind-allowed" in kinds

        wait_until(summarised, "the bind's events are in the audit log")
    return bind_id


def test_rows_tell_who_did_what_to_the_bind(service: LiveService, activity: int) -> None:
    found = rows(service, "--bind", str(activity), "--limit", "1000")
    assert {row["bind_id"] for row in found} == {activity}
    kinds = [row["kind"] for row in found]
    assert kinds.index("bind-created") < kinds.index("operator-allow")
    created = found[kinds.index("bind-created")]
    assert (created["client"], created["user"]) == (CLIENT, USER)
    operator = found[kinds.index("operator-allow")]
    assert operator["actor"] == "admin:root(uid 0)"
    assert operator["detail"]["result"] == "S_OK"
    summary = found[kinds.index("discard-summary")]
    assert summary["verdict"] == "discard"
    assert [row["id"] for row in found] == sorted(row["id"] for row in found)


@pytest.mark.parametrize(
    ("options", "check"),
    [
        (("--user", USER), lambda row: row["user"] == USER),
        (("--verdict", "discard"), lambda row: row["verdict"] == "discard"),
        (
            ("--kind", "bind-created", "--kind", "operator-allow"),
            lambda row: row["kind"] in ("bind-created", "operator-allow"),
        ),
        (("--since", "1h"), lambda row: True),
    ],
)
def test_filters_keep_only_matching_rows(
    service: LiveService, activity: int, options: tuple[str, ...], check: Any
) -> None:
    found = rows(service, *options)
    assert found
    assert all(check(row) for row in found)
    assert activity in {row["bind_id"] for row in found}


def test_since_now_and_limit(service: LiveService, activity: int) -> None:
    assert rows(service, "--since", "0s", "--kind", "bind-created") == []
    everything = rows(service, "--limit", "100000")
    newest = rows(service, "--limit", "1")
    assert newest == everything[-1:]


def test_lines_by_default(service: LiveService, activity: int) -> None:
    result = service.cli("log", "--bind", str(activity), "--kind", "bind-created")
    assert result.exit_code == 0
    line = one_line(result.stdout)
    assert f" bind-created bind={activity} session=" in line
    assert f" {USER}@{CLIENT} " in line


def test_a_bad_duration_is_a_usage_error(service: LiveService) -> None:
    assert service.cli("log", "--since", "yesterday").exit_code == 2


def test_follow_prints_new_rows_until_ctrl_c(service: LiveService) -> None:
    """--follow polls for rows as they are written; SIGINT ends it with exit 0, no traceback."""
    with tcp_bind(service) as (bind_id, _):
        assert service.cli("binds", "allow", str(bind_id), "--protocol", "FTP").exit_code == 0
        command = [str(FWX), "log", "--follow", "--json", "--bind", str(bind_id)]
        command += ["--kind", "operator-allow", "--kind", "operator-terminate"]
        follower = subprocess.Popen(
            command,
            env=fwx_env(**service.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert json.loads(_read_line(follower, 20.0))["kind"] == "operator-allow"
            assert service.cli("binds", "terminate", str(bind_id)).exit_code == 0
            line = json.loads(_read_line(follower, 20.0))
            assert (line["kind"], line["bind_id"]) == ("operator-terminate", bind_id)
            follower.send_signal(signal.SIGINT)
            out, err = follower.communicate(timeout=20)
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
    assert follower.returncode == 0
    assert out == ""
    assert err == ""


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "no row within the time-out"
    return process.stdout.readline()


def test_the_log_is_read_with_the_service_stopped() -> None:
    with live_service() as stopped:
        with tcp_bind(stopped) as (bind_id, _):
            pass
        assert stopped.stop() == 0
        done = run_fwx("log", "--json", env=fwx_env(**stopped.env))
    assert done.returncode == 0, done.stderr
    found = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [row["kind"] for row in found]
    assert kinds[0] == "service-started"
    assert kinds[-1] == "service-stopped"
    assert bind_id in {row["bind_id"] for row in found if row["kind"] == "bind-closed"}


def test_a_missing_log_is_exit_3_in_one_line(tmp_path: Path) -> None:
    done = run_fwx("log", "--db", str(tmp_path / "none.sqlite"))
    assert done.returncode == 3
    assert one_line(done.stderr).startswith(f"fwx: {tmp_path / 'none.sqlite'}")


def test_a_file_that_is_not_an_audit_log_is_exit_3_in_one_line(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    other.write_text("not a database, not even close\n" * 100)
    done = run_fwx("log", "--db", str(other))
    assert done.returncode == 3
    assert "not an fwx audit log" in one_line(done.stderr)


def test_a_record_line_has_the_facts_then_the_details() -> None:
    record = AuditRecord(
        7, "run", None, 0.0, "operator-allow", 3, None, None, None, "admin:root(uid 0)", None,
        {"protocol": "FTP", "ip_filter": {"mode": "none"}, "note": "two words"},
    )  # fmt: skip
    line = record_line(record)
    assert line.endswith(
        ' operator-allow bind=3 by="admin:root(uid 0)" protocol=FTP ip_filter={"mode":"none"}'
        ' note="two words"'
    )


def test_run_latest_keeps_the_newest_service_run_only(tmp_path: Path) -> None:
    """Bind and session ids start again with each run: --run latest shows the newest run alone."""
    path = tmp_path / "audit.sqlite"

    async def one_run() -> str:
        engine = Engine(loads(STARTER_TEXT))
        audit = AuditLog(engine, AuditOptions(path))
        await audit.start()
        engine.session("127.0.0.5")
        await audit.stop()
        assert audit.run is not None
        return audit.run

    first, second = asyncio.run(one_run()), asyncio.run(one_run())

    def runs(*options: str) -> set[str]:
        done = run_fwx("log", "--json", "--db", str(path), *options)
        assert done.returncode == 0, done.stderr
        return {json.loads(line)["run"] for line in done.stdout.splitlines()}

    assert runs() == {first, second}
    assert runs("--run", "latest") == {second}
    assert runs("--run", first) == {first}
