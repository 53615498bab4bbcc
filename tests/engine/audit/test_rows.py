"""Rows from events: wall times, who the session is, the actor, the verdict, missed events."""

from __future__ import annotations

import json
import uuid
from types import MappingProxyType

import pytest

from engine.audit.rows import RowMaker, make_row, run_id, to_json
from engine.core import Engine, Event, EventKind, Gap, ManualClock, Transport
from tests.engine.audit.sample import EXTERNAL, REMOTE, WALL_START, allow, pending_bind

COLUMNS = ("run", "seq", "time", "kind", "bind_id", "session_id", "client", "user", "actor")


def maker_for(engine: Engine, clock: ManualClock, wall: ManualClock) -> RowMaker:
    return RowMaker("run-1", engine.sessions, clock, wall)


def named(row: tuple[object, ...]) -> dict[str, object]:
    """A row's columns by name, ``detail`` decoded."""
    names = (*COLUMNS, "verdict", "detail")
    values = dict(zip(names, row, strict=True))
    values["detail"] = json.loads(str(values["detail"]))
    return values


def test_event_times_become_wall_clock_times(
    engine: Engine, clock: ManualClock, wall: ManualClock
) -> None:
    subscription = engine.subscribe()
    engine.session("10.0.0.5", "alice")
    clock.advance(7)
    engine.session("10.0.0.6", "bob")
    clock.advance(3)
    wall.advance(100)
    rows = maker_for(engine, clock, wall).rows(subscription.drain())
    assert [named(row)["time"] for row in rows] == [WALL_START + 90, WALL_START + 97]


def test_a_session_is_known_from_its_creation_and_forgotten_after_its_end(
    engine: Engine, clock: ManualClock, wall: ManualClock
) -> None:
    subscription = engine.subscribe()
    maker = maker_for(engine, clock, wall)
    alice = engine.session("10.0.0.5", "alice")
    pending_bind(engine, alice, 40001)
    engine.end_session(alice)
    rows = [named(row) for row in maker.rows(subscription.drain())]
    assert [(row["kind"], row["client"], row["user"]) for row in rows] == [
        ("session-created", "10.0.0.5", "alice"),
        ("bind-created", "10.0.0.5", "alice"),
        ("bind-terminating", "10.0.0.5", "alice"),
        ("bind-closed", "10.0.0.5", "alice"),
        ("session-ended", "10.0.0.5", "alice"),
    ]
    late = named(maker.record("admin-request", "uid 0 (root)", {}, session_id=alice.id))
    assert (late["client"], late["user"]) == (None, None)


def test_a_session_missed_by_the_stream_is_looked_up_in_the_engine(
    engine: Engine, clock: ManualClock, wall: ManualClock
) -> None:
    alice = engine.session("10.0.0.5", "alice")
    subscription = engine.subscribe()
    pending_bind(engine, alice, 40001)
    (row,) = maker_for(engine, clock, wall).rows(subscription.drain())
    assert (named(row)["client"], named(row)["user"]) == ("10.0.0.5", "alice")


def test_actor_and_verdict_columns(engine: Engine, clock: ManualClock, wall: ManualClock) -> None:
    alice = engine.session("10.0.0.5", "alice")
    bind = pending_bind(engine, alice, 40001)
    subscription = engine.subscribe()
    engine.inbound(Transport.TCP, bind.address, REMOTE)
    clock.advance(1)
    engine.tick()
    allow(engine, alice, bind, "admin:root(uid 0)")
    engine.inbound(Transport.TCP, bind.address, REMOTE)
    engine.connect(alice, ("203.0.113.80", 80))
    engine.connect(alice, ("203.0.113.80", 23))
    rows = [named(row) for row in maker_for(engine, clock, wall).rows(subscription.drain())]
    assert [(row["kind"], row["actor"], row["verdict"]) for row in rows] == [
        ("discard-summary", None, "discard"),
        ("bind-allowed", "admin:root(uid 0)", None),
        ("inbound-accepted", None, "accept"),
        ("connect", None, "accept"),
        ("connect", None, "discard"),
    ]
    assert rows[0]["detail"]["counts"] == {"pending": 1}
    assert rows[1]["detail"]["protocol_name"] == "FTP"


def test_a_gap_is_one_events_missed_row_and_is_counted(
    engine: Engine, clock: ManualClock, wall: ManualClock
) -> None:
    subscription = engine.subscribe(2)
    alice = engine.session("10.0.0.5", "alice")
    for _ in range(4):
        engine.connect(alice, ("203.0.113.80", 80))
    maker = maker_for(engine, clock, wall)
    rows = [named(row) for row in maker.rows(subscription.drain())]
    assert [(row["kind"], row["seq"]) for row in rows] == [
        ("events-missed", None), ("connect", 4), ("connect", 5),
    ]  # fmt: skip
    assert rows[0]["detail"] == {"missed": 3}
    assert maker.missed == 3
    maker.rows([Gap(2)])
    assert maker.missed == 5


def test_detail_values_json_cannot_hold_are_written_as_text() -> None:
    guid = uuid.UUID(int=21)
    detail = MappingProxyType({"protocol": guid, "ports": (1, 2), "nested": {"a": None}})
    assert json.loads(to_json(detail)) == {
        "protocol": str(guid),
        "ports": [1, 2],
        "nested": {"a": None},
    }


def test_a_note_row_has_no_seq_and_no_verdict() -> None:
    row = make_row("run-1", 5.0, "rows-lost", {"lost": 3}, actor=None)
    assert row == (
        "run-1",
        None,
        5.0,
        "rows-lost",
        None,
        None,
        None,
        None,
        None,
        None,
        '{"lost":3}',
    )


def test_run_ids_start_with_the_utc_time_and_differ() -> None:
    first, second = run_id(WALL_START), run_id(WALL_START)
    assert first.startswith("20231114T221320Z-")
    assert first != second


def test_an_event_detail_passes_through_unchanged(
    engine: Engine, clock: ManualClock, wall: ManualClock
) -> None:
    event = Event(
        9, clock(), EventKind.BIND_CREATED, 4, None, MappingProxyType({"address": EXTERNAL})
    )
    (row,) = maker_for(engine, clock, wall).rows([event])
    assert named(row)["detail"] == {"address": EXTERNAL}
    assert named(row)["seq"] == 9
    assert named(row)["time"] == pytest.approx(WALL_START)
