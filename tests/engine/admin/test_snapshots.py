"""Snapshot values: copies of engine state that are plain, frozen and JSON-able."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from engine import Engine, Flags, HResult, IpFilter, ManualClock, Transport
from engine.admin.convert import (
    bind_snapshot,
    event_snapshot,
    opening_snapshot,
    protocol_snapshot,
    rule_snapshots,
    session_snapshot,
)
from engine.admin.snapshots import (
    BindSnapshot,
    EventBatch,
    EventSnapshot,
    Timebase,
    flag_names,
)
from rules.loader import loads
from rules.model import Action, ProtocolRule
from rules.starter import STARTER_TEXT

FTP = uuid.UUID("a5b2c3d4-0000-4000-8000-000000000021")
TIME = Timebase(engine_now=100.0, wall_now=1_700_000_000.0)


@pytest.fixture
def engine() -> Engine:
    return Engine(loads(STARTER_TEXT), clock=ManualClock(100.0))


def names(engine: Engine) -> dict[uuid.UUID, str]:
    return {proto.guid: proto.name for proto in engine.protocols()}


def test_timebase_maps_engine_times_to_wall_clock() -> None:
    assert TIME.wall(90.0) == 1_700_000_000.0 - 10.0
    assert TIME.wall_or_none(None) is None


def test_a_pending_bind_copies_every_field(engine: Engine) -> None:
    session = engine.session("127.0.0.5", "alice", authenticated=True)
    _, bind = engine.bind(session, Transport.TCP, ("127.0.0.1", 40001))
    assert bind is not None
    snap = bind_snapshot(bind, TIME, names(engine))
    assert (snap.id, snap.session_id) == (bind.id, session.id)
    assert (snap.client, snap.user) == ("127.0.0.5", "alice")
    assert (snap.transport, snap.address, snap.state) == ("tcp", "127.0.0.1:40001", "pending")
    assert snap.who == "alice@127.0.0.5"
    assert snap.protocol is None
    assert snap.protocol_name is None
    assert snap.ip_filter is None
    assert snap.ip_filter_summary == "any"
    assert snap.created == TIME.wall(100.0)
    assert snap.allowed_by is None
    assert snap.allowed_at is None


def test_an_allowed_bind_names_its_protocol_filter_and_actor(engine: Engine) -> None:
    session = engine.session("127.0.0.5")
    _, bind = engine.bind(session, Transport.UDP, ("127.0.0.1", 40002))
    assert bind is not None
    ip_filter = IpFilter.from_specs(["127.0.0.2", "10.0.0.0/8"])
    result = engine.retroactive_allow_bind(
        session, 17, bind.address, None, FTP, Flags.BIDIRECTIONAL, ip_filter, actor="operator:t"
    )
    assert result is HResult.S_OK
    snap = bind_snapshot(bind, TIME, names(engine))
    assert snap.state == "allowed"
    assert (snap.protocol, snap.protocol_name) == (str(FTP), "FTP")
    assert snap.flag_names == ("BIDIRECTIONAL",)
    assert snap.ip_filter == ("10.0.0.0/8", "127.0.0.2")
    assert snap.ip_filter_summary == "10.0.0.0/8 +1 more"
    assert snap.allowed_by == "operator:t"
    assert snap.allowed_at == TIME.wall(100.0)


def test_an_empty_filter_reads_block_all(engine: Engine) -> None:
    session = engine.session("127.0.0.5")
    _, bind = engine.bind(session, Transport.TCP, ("127.0.0.1", 40003))
    assert bind is not None
    engine.retroactive_allow_bind(session, 6, bind.address, None, FTP, 0, IpFilter())
    snap = bind_snapshot(bind, TIME, names(engine))
    assert snap.ip_filter == ()
    assert snap.ip_filter_summary == "block all"


def test_discards_are_counted_by_reason_with_recent_ones(engine: Engine) -> None:
    session = engine.session("127.0.0.5")
    _, bind = engine.bind(session, Transport.TCP, ("127.0.0.1", 40004))
    assert bind is not None
    for _ in range(3):
        engine.inbound(Transport.TCP, ("127.0.0.1", 40004), ("127.0.0.3", 5555))
    snap = bind_snapshot(bind, TIME, names(engine))
    assert snap.discarded == (("pending", 3),)
    assert snap.discarded_total == 3
    assert [item.remote for item in snap.recent] == ["127.0.0.3:5555"] * 3
    assert snap.last_seen == TIME.wall(100.0)


def test_snapshots_are_json_values(engine: Engine) -> None:
    session = engine.session("127.0.0.5")
    _, bind = engine.bind(session, Transport.TCP, ("127.0.0.1", 40005))
    assert bind is not None
    engine.inbound(Transport.TCP, ("127.0.0.1", 40005), ("127.0.0.3", 1))
    snap = bind_snapshot(bind, TIME, names(engine))
    text = json.dumps(dataclasses.asdict(snap))
    assert json.loads(text)["recent"][0]["reason"] == "pending"
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.state = "allowed"  # type: ignore[misc]


def test_sessions_count_their_live_and_pending_binds(engine: Engine) -> None:
    session = engine.session("127.0.0.6", "bob", authenticated=True)
    engine.bind(session, Transport.TCP, ("127.0.0.1", 40006))
    engine.bind(session, Transport.UDP, ("127.0.0.1", 40006))
    snap = session_snapshot(session, TIME)
    assert (snap.binds, snap.pending, snap.who) == (2, 2, "bob@127.0.0.6")
    assert snap.flags == ("AUTHENTICATED",)


def test_protocols_list_the_connections_that_accept_inbound(engine: Engine) -> None:
    ftp = engine.rules.protocol("FTP")
    assert ftp is not None
    snap = protocol_snapshot(ftp, "rules")
    assert snap.primary == "tcp 21 outbound"
    assert snap.secondary == ("tcp 1024-65535 inbound",)
    assert snap.inbound == (("tcp", 1024, 65535),)
    assert snap.covers("tcp", 40000) == 64512
    assert snap.covers("udp", 40000) is None


def test_rules_are_listed_denies_first_then_allows_then_disabled() -> None:
    """R77, R83: a deny that applies wins, so denies are checked first; file order is kept."""
    ruleset = loads(STARTER_TEXT)
    extra = (
        ProtocolRule("off", Action.ALLOW, enabled=False),
        ProtocolRule("no ftp", Action.DENY, ("FTP",)),
    )
    ruleset = dataclasses.replace(ruleset, rules=(*ruleset.rules, *extra))
    listed = rule_snapshots(ruleset)
    assert [rule.name for rule in listed] == ["no ftp", ruleset.rules[0].name, "off"]
    assert [rule.position for rule in listed] == [2, 0, 1]
    assert listed[0].role.startswith("deny")
    assert listed[2].role.startswith("disabled")


def test_openings_exist_for_allowed_binds_with_their_remote_ranges(engine: Engine) -> None:
    session = engine.session("127.0.0.5")
    _, bind = engine.bind(session, Transport.TCP, ("127.0.0.1", 40007))
    assert bind is not None
    engine.retroactive_allow_bind(
        session, 6, bind.address, None, FTP, 0, IpFilter.from_specs(["127.0.0.2"])
    )
    [opening] = [opening_snapshot(item) for item in engine.openings()]
    assert (opening.bind_id, opening.address, opening.remote) == (
        bind.id,
        "127.0.0.1:40007",
        ("127.0.0.2",),
    )


def test_events_keep_their_detail_as_text(engine: Engine) -> None:
    subscription = engine.subscribe()
    engine.session("127.0.0.9", "carol")
    [event] = subscription.drain()
    snap = event_snapshot(event, TIME)  # type: ignore[arg-type]
    assert snap.kind == "session-created"
    assert ("client", "127.0.0.9") in snap.detail
    assert "user=carol" in snap.text


def test_flag_names_show_unknown_bits_in_hex() -> None:
    assert flag_names(0) == ()
    assert flag_names(3) == ("BIDIRECTIONAL", "INCREASE_RECEIVE_BUFFER")
    assert flag_names(0x10) == ("0x10",)


def _bind(bind_id: int, state: str) -> BindSnapshot:
    return BindSnapshot(
        bind_id, 1, "127.0.0.5", None, "tcp", "127.0.0.1", 40000 + bind_id, state,
        None, None, 0, None, 0, (), (), None, None, 0.0, None,
    )  # fmt: skip


def test_merged_batches_keep_the_newest_snapshot_and_every_removal() -> None:
    first = EventBatch(time=1.0, binds=(_bind(1, "pending"), _bind(2, "pending")), kinds=("a",))
    second = EventBatch(
        time=2.0, binds=(_bind(1, "allowed"),), removed_binds=(2,), discards=3, kinds=("b",)
    )
    merged = first.merge(second, keep_events=10)
    assert merged.binds == (_bind(1, "allowed"),)
    assert merged.removed_binds == (2,)
    assert (merged.time, merged.discards, merged.kinds) == (2.0, 3, ("a", "b"))


def test_merged_batches_keep_only_the_newest_events_but_every_kind() -> None:
    events = tuple(EventSnapshot(number, 0.0, "bind-created", 1, 1, ()) for number in range(1, 6))
    merged = EventBatch(1.0, events[:3], kinds=("x",)).merge(
        EventBatch(2.0, events[3:], missed=2, kinds=("y",)), keep_events=2
    )
    assert [event.seq for event in merged.events] == [4, 5]
    assert merged.missed == 2
    assert merged.kinds == ("x", "y")
