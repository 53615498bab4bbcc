"""AuditLog: what gets written, when it is durable, and how a run starts and ends."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from engine.audit import AuditError, AuditLog, AuditReader
from engine.core import Engine, ManualClock, Transport
from tests.engine.audit.sample import (
    REMOTE,
    WALL_START,
    allow,
    audit_log,
    kinds,
    pending_bind,
    read,
    run,
)


def test_events_are_rows_with_wall_times_client_user_and_verdict(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall)
        await log.start()
        alice = engine.session("10.0.0.5", "alice", authenticated=True)
        clock.advance(2)
        engine.connect(alice, ("203.0.113.80", 80))
        bob = engine.session("10.0.0.6", "bob")
        engine.connect(bob, ("203.0.113.80", 80))
        clock.advance(3)
        wall.advance(5)
        await log.stop()

    run(scenario())
    rows = read(path)
    assert kinds(rows) == [
        "service-started", "session-created", "connect", "session-created", "connect",
        "service-stopped",
    ]  # fmt: skip
    created, alice_connect, _, bob_connect = rows[1:5]
    assert (created.seq, created.client, created.user) == (1, "10.0.0.5", "alice")
    assert created.time == pytest.approx(WALL_START)
    assert alice_connect.time == pytest.approx(WALL_START + 2)
    assert (alice_connect.verdict, alice_connect.user) == ("accept", "alice")
    assert (bob_connect.verdict, bob_connect.client, bob_connect.user) == (
        "discard", "10.0.0.6", "bob",
    )  # fmt: skip
    assert bob_connect.detail["reason"] == "rules"
    assert [row.seq for row in rows[1:5]] == [1, 2, 3, 4]
    assert rows[0].seq is None
    assert rows[-1].seq is None
    assert rows[-1].time == pytest.approx(WALL_START + 5)
    assert len({row.run for row in rows}) == 1


def test_discards_are_one_row_per_bind_per_interval(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall)
        await log.start()
        alice = engine.session("10.0.0.5", "alice")
        binds = [pending_bind(engine, alice, port) for port in (40001, 40002)]
        for _ in range(3):
            for bind in binds:
                for _ in range(50):
                    engine.inbound(Transport.TCP, bind.address, REMOTE)
            clock.advance(1)
            engine.tick()
        await log.stop()

    run(scenario())
    summaries = read(path, kinds=["discard-summary"])
    assert [(row.bind_id, row.detail["total"]) for row in summaries] == [
        (1, 50), (2, 50), (1, 50), (2, 50), (1, 50), (2, 50),
    ]  # fmt: skip
    assert {row.verdict for row in summaries} == {"discard"}
    assert {row.user for row in summaries} == {"alice"}
    assert read(path, verdict="discard") == summaries


def test_an_allowed_bind_names_its_actor_and_accepted_connections_are_accepts(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall)
        await log.start()
        alice = engine.session("10.0.0.5", "alice")
        bind = pending_bind(engine, alice, 40001)
        allow(engine, alice, bind, "console:root")
        engine.inbound(Transport.TCP, bind.address, REMOTE)
        bob = engine.session("10.0.0.6", "bob")
        refused = pending_bind(engine, bob, 40002)
        allow(engine, bob, refused, "ftp-filter")
        await log.stop()

    run(scenario())
    allowed = read(path, kinds=["bind-allowed"])
    assert [(row.bind_id, row.actor, row.user) for row in allowed] == [(1, "console:root", "alice")]
    accepted = read(path, verdict="accept", kinds=["inbound-accepted"])
    assert [(row.bind_id, row.detail["remote"]) for row in accepted] == [(1, "203.0.113.7:5555")]
    refusals = read(path, kinds=["allow-refused"])
    assert [(row.bind_id, row.actor, row.detail["result"]) for row in refusals] == [
        (2, "ftp-filter", "FWX_E_PROTOCOL_RULES_DENIED")
    ]


def test_sessions_older_than_the_log_are_known_and_ended_ones_forgotten(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    alice = engine.session("10.0.0.5", "alice")

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall)
        await log.start()
        pending_bind(engine, alice, 40001)
        engine.end_session(alice)
        await log.record("admin-request", "uid 0 (root)", {"op": "ping"}, session_id=alice.id)
        await log.stop()

    run(scenario())
    rows = read(path, kinds=["bind-created", "bind-closed", "session-ended"])
    assert [(row.kind, row.client, row.user) for row in rows] == [
        ("bind-created", "10.0.0.5", "alice"),
        ("bind-closed", "10.0.0.5", "alice"),
        ("session-ended", "10.0.0.5", "alice"),
    ]
    (late,) = read(path, kinds=["admin-request"])
    assert (late.session_id, late.client, late.user) == (alice.id, None, None)


def test_record_is_committed_with_every_earlier_event_when_it_returns(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    seen: list[list[str]] = []

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall)
        await log.start()
        alice = engine.session("10.0.0.5", "alice")
        bind = pending_bind(engine, alice, 40001)
        detail = {"request": "terminate", "bind": bind.id}
        await log.record("admin-request", "uid 1000 (ops)", detail, bind_id=bind.id)
        seen.append(kinds(read(path)))
        await log.stop()

    run(scenario())
    assert seen == [["service-started", "session-created", "bind-created", "admin-request"]]
    (request,) = read(path, kinds=["admin-request"])
    assert (request.actor, request.bind_id, request.seq) == ("uid 1000 (ops)", 1, None)
    assert request.detail == {"request": "terminate", "bind": 1}


def test_stop_writes_every_event_and_a_stopped_row(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    stats = []

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall)
        await log.start()
        alice = engine.session("10.0.0.5", "alice")
        for _ in range(500):
            engine.connect(alice, ("203.0.113.80", 80))
        await log.stop()
        stats.append(log.stats)

    run(scenario())
    rows = read(path)
    assert [row.seq for row in rows if row.seq is not None] == list(range(1, 502))
    assert rows[-1].kind == "service-stopped"
    assert rows[-1].detail["missed"] == 0
    (after,) = stats
    assert (after.rows_written, after.missed, after.lost, after.pending) == (503, 0, 0, 0)
    assert after.last_error is None
    assert after.path == path


def test_the_pump_writes_batches_without_being_asked(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    found: list[list[str]] = []

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall, flush_interval=0.02)
        await log.start()
        engine.session("10.0.0.5", "alice")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not found:
            await asyncio.sleep(0.02)
            written = kinds(read(path))
            if "session-created" in written:
                found.append(written)
        batches = log.stats.batches
        await log.stop()
        assert batches >= 2

    run(scenario())
    assert found == [["service-started", "session-created"]]


def test_events_the_subscription_lost_are_counted_and_noted(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    stats = []

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall, queue_capacity=3)
        await log.start()
        alice = engine.session("10.0.0.5", "alice")
        for _ in range(9):
            engine.connect(alice, ("203.0.113.80", 80))
        await log.record("admin-request", "uid 0 (root)", {})
        stats.append(log.stats)
        await log.stop()

    run(scenario())
    rows = read(path)
    assert kinds(rows)[:2] == ["service-started", "events-missed"]
    assert rows[1].detail == {"missed": 7}
    assert [row.seq for row in rows[2:5]] == [8, 9, 10]
    assert stats[0].missed == 7
    assert rows[-1].detail["missed"] == 7


def test_each_start_is_a_new_run_in_the_same_file(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    runs: list[str | None] = []

    async def scenario() -> None:
        for client in ("10.0.0.5", "10.0.0.6"):
            log = audit_log(engine, path, clock, wall)
            await log.start()
            runs.append(log.run)
            engine.session(client, "alice")
            await log.stop()

    run(scenario())
    first, second = runs
    assert first is not None
    assert second is not None
    assert first != second
    rows = read(path)
    assert [row.id for row in rows] == list(range(1, 7))
    assert [row.run for row in rows] == [first] * 3 + [second] * 3
    assert kinds(read(path, run=second)) == [
        "service-started",
        "session-created",
        "service-stopped",
    ]
    with AuditReader(path) as reader:
        assert reader.latest_run() == second


def test_the_folder_is_private_and_the_file_owner_only(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    run(_start_and_stop(audit_log(engine, path, clock, wall)))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_folder_keeps_its_mode(
    engine: Engine, clock: ManualClock, wall: ManualClock, tmp_path: Path
) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "fwx-audit.db"
    run(_start_and_stop(audit_log(engine, path, clock, wall)))
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("text", "not an fwx audit log (not an SQLite database)"),
        ("other-database", "not an fwx audit log"),
        ("newer-schema", "audit log schema version 2; this fwx reads version 1"),
    ],
)
def test_a_file_that_is_not_an_fwx_audit_log_is_refused_in_one_line(
    engine: Engine, clock: ManualClock, wall: ManualClock, tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "audit.db"
    if content == "text":
        path.write_text("version = 1\n" * 1000, encoding="utf-8")
    else:
        _foreign_database(path, newer=content == "newer-schema")
    log = audit_log(engine, path, clock, wall)
    with pytest.raises(AuditError) as caught:
        run(log.start())
    assert str(caught.value) == f"{path}: {reason}"
    with pytest.raises(RuntimeError, match="not running"):
        run(log.record("admin-request", "uid 0 (root)", {}))


def test_a_path_that_cannot_be_a_file_is_refused_in_one_line(
    engine: Engine, clock: ManualClock, wall: ManualClock, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    path = blocker / "audit.db"
    with pytest.raises(AuditError) as caught:
        run(audit_log(engine, path, clock, wall).start())
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot create the audit log: ")
    assert "\n" not in message


def test_stop_twice_is_harmless_and_start_twice_is_a_mistake(
    engine: Engine, clock: ManualClock, wall: ManualClock, path: Path
) -> None:
    log = audit_log(engine, path, clock, wall)

    async def scenario() -> None:
        await log.start()
        with pytest.raises(RuntimeError, match="already started"):
            await log.start()
        await log.stop()
        await log.stop()

    run(scenario())
    assert kinds(read(path)) == ["service-started", "service-stopped"]


async def _start_and_stop(log: AuditLog) -> None:
    await log.start()
    await log.stop()


def _foreign_database(path: Path, *, newer: bool) -> None:
    """An SQLite file that is not ours, or one of ours from a newer fwx."""
    connection = sqlite3.connect(path)
    if newer:
        connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        connection.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("application", "fwx-audit"), ("schema_version", "2")],
        )
    else:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    connection.commit()
    connection.close()
