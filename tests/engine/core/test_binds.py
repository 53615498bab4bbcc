"""Bind: the one transition table, counters, lazy containers and preallocated verdicts."""

from __future__ import annotations

import uuid

import pytest

from engine.core.binds import RECENT_DISCARDS, TRANSITIONS, Bind, BindState, IllegalTransition
from engine.core.ipfilter import IpFilter
from engine.core.results import Flags, Transport
from engine.core.sessions import Session, SessionFlags
from engine.core.verdicts import VerdictAction

REMOTE = ("203.0.113.7", 5555)


@pytest.fixture
def bind() -> Bind:
    session = Session(1, "10.0.0.5", None, SessionFlags.NAT, 0.0)
    return Bind(1, session, Transport.TCP, ("198.51.100.1", 40000), 0.0)


def test_r9_a_new_bind_is_pending_and_discards(bind: Bind) -> None:
    assert bind.state is BindState.PENDING
    assert bind.verdict.action is VerdictAction.DISCARD
    assert bind.verdict.reason == "pending"
    assert bind.verdict.bind is bind
    assert bind.protocol is None
    assert bind.ip_filter is None
    assert bind.allowed_by is None


def test_r55_the_table_allows_exactly_the_documented_moves() -> None:
    legal = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert legal == {
        (BindState.PENDING, BindState.ALLOWED),
        (BindState.PENDING, BindState.TERMINATING),
        (BindState.ALLOWED, BindState.TERMINATING),
        (BindState.TERMINATING, BindState.CLOSED),
    }


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((), BindState.CLOSED),
        ((), BindState.PENDING),
        ((BindState.ALLOWED,), BindState.PENDING),
        ((BindState.ALLOWED,), BindState.ALLOWED),
        ((BindState.TERMINATING,), BindState.ALLOWED),
        ((BindState.TERMINATING,), BindState.PENDING),
        ((BindState.TERMINATING, BindState.CLOSED), BindState.TERMINATING),
        ((BindState.TERMINATING, BindState.CLOSED), BindState.ALLOWED),
    ],
)
def test_r55_an_illegal_move_raises_and_changes_nothing(
    bind: Bind, path: tuple[BindState, ...], illegal: BindState
) -> None:
    for state in path:
        bind.move(state)
    before = bind.state
    with pytest.raises(IllegalTransition) as raised:
        bind.move(illegal)
    assert bind.state is before
    assert raised.value.current is before
    assert raised.value.wanted is illegal
    assert f"{before.value} -> {illegal.value}" in str(raised.value)


def test_r55_no_sequence_of_moves_leads_back_from_terminating(bind: Bind) -> None:
    bind.move(BindState.TERMINATING)
    for state in BindState:
        if state is not BindState.CLOSED:
            with pytest.raises(IllegalTransition):
                bind.move(state)


def test_r26_allow_records_protocol_filter_actor_and_accept_verdict(bind: Bind) -> None:
    guid = uuid.UUID(int=21)
    own = IpFilter.from_specs(["203.0.113.0/24"])
    bind.allow(guid, Flags.NONE, own, "filter:ftp", 3.0)
    assert bind.state is BindState.ALLOWED
    assert (bind.protocol, bind.ip_filter, bind.allowed_by, bind.allowed_at) == (
        guid,
        own,
        "filter:ftp",
        3.0,
    )
    assert bind.verdict.accepted
    assert bind.verdict.reason == "allowed"


def test_terminating_and_closed_binds_discard_with_their_reason(bind: Bind) -> None:
    bind.move(BindState.TERMINATING)
    assert (bind.verdict.action, bind.verdict.reason) == (VerdictAction.DISCARD, "terminating")
    bind.move(BindState.CLOSED)
    assert not bind.verdict.accepted


def test_a_fresh_bind_creates_no_discard_containers(bind: Bind) -> None:
    assert bind.discarded == {}
    assert list(bind.recent_discards) == []
    assert bind.peers is None
    assert bind.recent_senders is None
    assert bind.discarded_total == 0


def test_discards_are_counted_by_reason_and_remembered_briefly(bind: Bind) -> None:
    assert bind.count_discard("pending", REMOTE, 1.0) is True
    assert bind.count_discard("pending", REMOTE, 2.0) is False
    assert bind.count_discard("ip-filter", ("192.0.2.1", 7), 3.0) is False
    assert bind.discarded == {"pending": 2, "ip-filter": 1}
    assert bind.discarded_total == 3
    assert list(bind.recent_discards)[-1] == (3.0, ("192.0.2.1", 7), "ip-filter")
    assert (bind.first_seen, bind.last_seen) == (1.0, 3.0)


def test_recent_discards_are_bounded(bind: Bind) -> None:
    for second in range(RECENT_DISCARDS * 3):
        bind.count_discard("pending", REMOTE, float(second))
    recent = bind.recent_discards
    assert len(recent) == RECENT_DISCARDS
    assert recent[0][0] == float(RECENT_DISCARDS * 2)
    assert bind.discarded == {"pending": RECENT_DISCARDS * 3}


def test_the_counts_handed_out_are_copies(bind: Bind) -> None:
    bind.count_discard("pending", REMOTE, 1.0)
    bind.discarded["pending"] = 99
    bind.recent_discards.clear()
    assert bind.discarded == {"pending": 1}
    assert len(bind.recent_discards) == 1


def test_take_interval_reports_only_what_is_new(bind: Bind) -> None:
    bind.count_discard("pending", REMOTE, 1.0)
    bind.count_discard("pending", REMOTE, 1.5)
    assert bind.take_interval() == {"pending": 2}
    assert bind.take_interval() == {}
    assert bind.count_discard("ip-filter", REMOTE, 2.0) is True
    assert bind.take_interval() == {"ip-filter": 1}
    assert bind.discarded == {"pending": 2, "ip-filter": 1}


def test_verdicts_for_a_reason_are_built_once(bind: Bind) -> None:
    first = bind.verdict_for("ip-filter")
    assert first is bind.verdict_for("ip-filter")
    assert (first.action, first.bind) == (VerdictAction.DISCARD, bind)
    assert bind.verdict_for("response").accepted
    assert bind.verdict_for("bidirectional").accepted
    assert not bind.verdict_for("rules").accepted


def test_see_records_first_and_last_traffic(bind: Bind) -> None:
    for moment in (4.0, 5.0, 9.0):
        bind.see(moment)
    assert (bind.first_seen, bind.last_seen) == (4.0, 9.0)


def test_ending_a_bind_forgets_its_udp_flows() -> None:
    session = Session(1, "10.0.0.5", None, SessionFlags.NAT, 0.0)
    bind = Bind(2, session, Transport.UDP, ("198.51.100.1", 40001), 0.0)
    bind.peers = {REMOTE: 10.0}
    bind.allow(uuid.UUID(int=1), Flags.BIDIRECTIONAL, None, "x", 0.0)
    assert bind.peers == {REMOTE: 10.0}
    bind.recent_senders = {REMOTE: 10.0}
    bind.move(BindState.TERMINATING)
    assert bind.peers is None
    assert bind.recent_senders is None


def test_every_state_is_live_until_closed() -> None:
    assert [state.live for state in BindState] == [True, True, True, False]
