"""AuditReader: the queries ``fwx log`` makes, and one-line errors for files it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.audit import AuditError, AuditReader
from engine.audit.store import open_store
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


@pytest.fixture
def populated(engine: Engine, clock: ManualClock, wall: ManualClock, path: Path) -> Path:
    """One run: alice and bob bind at +0 s, discards and connects at +10 s, an allow at +20 s.

    Both clocks advance together, so a row's time is ``WALL_START`` plus its second.
    """

    def advance(seconds: float) -> None:
        clock.advance(seconds)
        wall.advance(seconds)

    async def scenario() -> None:
        log = audit_log(engine, path, clock, wall)
        await log.start()
        alice = engine.session("10.0.0.5", "alice")
        bob = engine.session("10.0.0.6", "bob")
        first = pending_bind(engine, alice, 40001)
        second = pending_bind(engine, bob, 40002)
        for bind in (first, second):
            engine.inbound(Transport.TCP, bind.address, REMOTE)
        advance(10)
        engine.tick()
        engine.connect(alice, ("203.0.113.80", 80))
        engine.connect(bob, ("203.0.113.80", 80))
        await log.record("admin-request", "uid 0 (root)", {"request": "binds.list"})
        advance(10)
        allow(engine, alice, first, "uid 0 (root)")
        await log.stop()

    run(scenario())
    return path


EVERYTHING = [
    "service-started", "session-created", "session-created", "bind-created", "bind-created",
    "discard-summary", "discard-summary", "connect", "connect", "admin-request", "bind-allowed",
    "service-stopped",
]  # fmt: skip


def test_without_filters_every_row_comes_oldest_first(populated: Path) -> None:
    rows = read(populated)
    assert kinds(rows) == EVERYTHING
    assert [row.id for row in rows] == list(range(1, 13))


def test_by_bind(populated: Path) -> None:
    rows = read(populated, bind_id=1)
    assert kinds(rows) == ["bind-created", "discard-summary", "bind-allowed"]
    assert rows[2].actor == "uid 0 (root)"


def test_by_user(populated: Path) -> None:
    rows = read(populated, user="bob")
    assert kinds(rows) == ["session-created", "bind-created", "discard-summary", "connect"]
    assert {row.client for row in rows} == {"10.0.0.6"}


def test_since_a_wall_clock_time(populated: Path) -> None:
    rows = read(populated, since=WALL_START + 10)
    assert kinds(rows) == EVERYTHING[5:]
    assert rows[0].time == pytest.approx(WALL_START + 10)
    assert kinds(read(populated, since=WALL_START + 15)) == ["bind-allowed", "service-stopped"]


def test_by_verdict(populated: Path) -> None:
    discards = read(populated, verdict="discard")
    assert [(row.kind, row.user) for row in discards] == [
        ("discard-summary", "alice"), ("discard-summary", "bob"), ("connect", "bob"),
    ]  # fmt: skip
    assert [(row.kind, row.user) for row in read(populated, verdict="accept")] == [
        ("connect", "alice")
    ]


def test_by_kind_and_run(populated: Path) -> None:
    with AuditReader(populated) as reader:
        latest = reader.latest_run()
        rows = reader.query(kinds=["bind-allowed", "admin-request"], run=latest)
        assert reader.query(run="20000101T000000Z-1-0000") == []
    assert kinds(rows) == ["admin-request", "bind-allowed"]
    assert latest is not None
    assert {row.run for row in rows} == {latest}


def test_after_an_id_for_following(populated: Path) -> None:
    assert kinds(read(populated, after_id=10)) == ["bind-allowed", "service-stopped"]
    assert read(populated, after_id=12) == []


def test_a_limit_keeps_the_newest_rows_oldest_first(populated: Path) -> None:
    assert kinds(read(populated, limit=3)) == ["admin-request", "bind-allowed", "service-stopped"]
    assert kinds(read(populated, user="alice", limit=2)) == ["connect", "bind-allowed"]
    assert read(populated, limit=0) == []
    with pytest.raises(ValueError, match="negative"):
        read(populated, limit=-1)


def test_filters_combine(populated: Path) -> None:
    rows = read(populated, user="alice", verdict="discard", since=WALL_START + 5, after_id=1)
    assert [(row.kind, row.bind_id) for row in rows] == [("discard-summary", 1)]


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "audit.db"
    with pytest.raises(AuditError) as caught:
        AuditReader(missing)
    assert str(caught.value) == f"{missing}: no audit log here"
    assert not missing.parent.exists()


def test_a_file_that_is_not_an_audit_log_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "rules.toml"
    other.write_text('version = 1\n[service]\nexternal = "198.51.100.1"\n', encoding="utf-8")
    with pytest.raises(AuditError) as caught:
        AuditReader(other)
    assert str(caught.value) == f"{other}: not an fwx audit log (not an SQLite database)"


def test_an_empty_log_has_no_latest_run(path: Path) -> None:
    open_store(path).close()
    with AuditReader(path) as reader:
        assert reader.latest_run() is None
        assert reader.query() == []
