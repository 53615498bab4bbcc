"""RetroactiveAllowBind (reference §4, R17-R36) and its check order (R34)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.binds import Bind, BindState
from engine.core.engine import Engine
from engine.core.events import Event, EventKind
from engine.core.ipfilter import IpFilter
from engine.core.results import Flags, HResult
from engine.core.sessions import Session

from .conftest import (
    ADMIN,
    EXTERNAL,
    FILTER_ONLY,
    FTP,
    LAN_CLIENT,
    REMOTE,
    STRANGER,
    TCP,
    UDP,
    allow,
    guid,
    make_bind,
)


def refusals(events: list[Any]) -> list[str]:
    return [
        str(event.detail["result"])
        for event in events
        if isinstance(event, Event) and event.kind is EventKind.ALLOW_REFUSED
    ]


def test_r17_r18_an_address_without_bind_is_not_found_and_nothing_is_created(
    engine: Engine, lan: Session
) -> None:
    events = engine.subscribe()
    result = engine.retroactive_allow_bind(lan, 6, (EXTERNAL, 40000), 16, FTP.guid, 0, None)
    assert result is HResult.NOT_FOUND
    assert result.value == 0x80070490
    assert engine.binds() == []
    assert engine.openings() == []
    assert refusals(events.drain()) == ["NOT_FOUND"]


def test_r17_the_call_acts_on_the_existing_bind(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    assert allow(engine, lan, bind) is HResult.S_OK
    assert engine.binds() == [bind]
    assert bind.state is BindState.ALLOWED


def test_r19_another_sessions_bind_is_not_found(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    other = engine.session(LAN_CLIENT, "alice", authenticated=True)
    assert allow(engine, other, bind) is HResult.NOT_FOUND
    assert bind.state is BindState.PENDING


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_r20_inaddr_any_matches_by_transport_and_port(
    engine: Engine, lan: Session, wildcard: str
) -> None:
    bind = make_bind(engine, lan, UDP, 40003)
    address_length = 28 if wildcard == "::" else 16
    assert allow(engine, lan, bind, protocol=6, address=(wildcard, 40003)) is HResult.NOT_FOUND
    result = allow(engine, lan, bind, address=(wildcard, 40003), address_length=address_length)
    assert result is HResult.S_OK
    assert bind.state is BindState.ALLOWED


def test_r20_a_bind_on_inaddr_any_matches_a_concrete_address(engine: Engine, lan: Session) -> None:
    """R20, as fwx extends it: a wildcard on either side matches by port."""
    _result, bind = engine.bind(lan, TCP, ("0.0.0.0", 40000))
    assert bind is not None
    assert allow(engine, lan, bind, address=(EXTERNAL, 40000)) is HResult.S_OK


def test_r20_a_concrete_address_must_match_exactly(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    assert allow(engine, lan, bind, address=("198.51.100.2", 40000)) is HResult.NOT_FOUND
    assert allow(engine, lan, bind, address=(EXTERNAL, 40001)) is HResult.NOT_FOUND


def test_r21_port_zero_is_invalid_and_changes_nothing(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    assert allow(engine, lan, bind, address=(EXTERNAL, 0)) is HResult.E_INVALIDARG
    assert allow(engine, lan, bind, address=("0.0.0.0", 0)) is HResult.E_INVALIDARG
    assert bind.state is BindState.PENDING


@pytest.mark.parametrize(
    "change",
    [
        {"protocol": 1},
        {"protocol": 0},
        {"address_length": 28},
        {"address_length": 0},
        {"flags": 0x4},
        {"flags": 0x80000000},
        {"flags": int(Flags.BIDIRECTIONAL)},
        {"flags": int(Flags.INCREASE_RECEIVE_BUFFER)},
        {"address": ("not-an-ip", 40000)},
        {"address": (EXTERNAL, 70000)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_r22_invalid_arguments_give_invalidarg(
    engine: Engine, lan: Session, change: dict[str, Any]
) -> None:
    bind = make_bind(engine, lan)
    assert allow(engine, lan, bind, **change) is HResult.E_INVALIDARG
    assert bind.state is BindState.PENDING
    assert HResult.E_INVALIDARG.value == 0x80070057


def test_r22_ipv6_addresses_need_the_ipv6_length(engine: Engine, lan: Session) -> None:
    _result, bind = engine.bind(lan, UDP, ("2001:db8::1", 40000))
    assert bind is not None
    assert allow(engine, lan, bind, address_length=16) is HResult.E_INVALIDARG
    assert allow(engine, lan, bind, address_length=28) is HResult.S_OK


def test_r23_a_terminating_bind_answers_terminating_and_stays_so(
    engine: Engine, lan: Session
) -> None:
    bind = make_bind(engine, lan)
    engine.terminate(bind)
    assert allow(engine, lan, bind) is HResult.FWX_E_TERMINATING
    assert HResult.FWX_E_TERMINATING.value == 0xC0040001
    assert bind.state is BindState.TERMINATING


def test_r24_an_allowed_bind_answers_s_false_and_keeps_flags_and_filter(
    engine: Engine, lan: Session
) -> None:
    bind = make_bind(engine, lan, UDP)
    first = IpFilter.from_specs(["203.0.113.0/24"])
    assert allow(engine, lan, bind, flags=int(Flags.BIDIRECTIONAL), ip_filter=first) is (
        HResult.S_OK
    )
    kept = bind.ip_filter
    opening = engine.openings()
    result = allow(engine, lan, bind, flags=0, ip_filter=IpFilter(), protocol_guid=guid(53))
    assert result is HResult.S_FALSE
    assert bind.flags == Flags.BIDIRECTIONAL
    assert bind.ip_filter is kept
    assert bind.protocol == FTP.guid
    assert engine.openings() == opening


def test_r25_a_protocol_the_user_may_not_use_is_denied_and_the_bind_stays_pending(
    engine: Engine, wan: Session
) -> None:
    events = engine.subscribe()
    bind = make_bind(engine, wan)
    assert allow(engine, wan, bind) is HResult.FWX_E_PROTOCOL_RULES_DENIED
    assert HResult.FWX_E_PROTOCOL_RULES_DENIED.value == 0xC004000D
    assert bind.state is BindState.PENDING
    assert engine.openings() == []
    (refusal,) = [
        e for e in events.drain() if isinstance(e, Event) and e.kind.value == "allow-refused"
    ]
    assert refusal.detail["reason"] == "no allow rule"
    assert refusal.bind_id == bind.id


@pytest.mark.parametrize("protocol_guid", [None, FILTER_ONLY.guid, guid(424242)])
def test_r25_an_unregistered_or_missing_guid_is_denied(
    engine: Engine, lan: Session, protocol_guid: Any
) -> None:
    bind = make_bind(engine, lan)
    assert allow(engine, lan, bind, protocol_guid=protocol_guid) is (
        HResult.FWX_E_PROTOCOL_RULES_DENIED
    )
    assert bind.state is BindState.PENDING


def test_r26_success_allows_the_bind_for_the_protocol(engine: Engine, lan: Session) -> None:
    events = engine.subscribe()
    bind = make_bind(engine, lan)
    assert engine.inbound(TCP, bind.address, REMOTE).reason == "pending"
    assert allow(engine, lan, bind) is HResult.S_OK
    assert bind.protocol == FTP.guid
    assert bind.allowed_by == "session"
    assert engine.inbound(TCP, bind.address, REMOTE).accepted
    allowed = [e for e in events.drain() if isinstance(e, Event) and e.kind.value == "bind-allowed"]
    assert allowed[0].detail["protocol_name"] == "FTP"


def test_r26_the_actor_is_recorded(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    engine.retroactive_allow_bind(
        lan, 6, bind.address, None, FTP.guid, 0, None, actor="operator:root"
    )
    assert bind.allowed_by == "operator:root"


def test_r27_no_filter_accepts_any_remote(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind, ip_filter=None)
    assert engine.inbound(TCP, bind.address, REMOTE).accepted
    assert engine.inbound(TCP, bind.address, STRANGER).accepted
    assert engine.inbound(TCP, bind.address, ("2001:db8::7", 1)).accepted


def test_r28_a_filter_admits_only_its_addresses(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind, ip_filter=IpFilter.from_specs(["203.0.113.0/24"], ["203.0.113.9"]))
    assert engine.inbound(TCP, bind.address, REMOTE).accepted
    for outsider in (STRANGER, ("203.0.113.9", 5555)):
        verdict = engine.inbound(TCP, bind.address, outsider)
        assert not verdict.accepted
        assert verdict.reason == "ip-filter"
    assert bind.discarded == {"ip-filter": 2}
    assert bind.accepted == 1


def test_r29_an_empty_filter_blocks_every_remote(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind, ip_filter=IpFilter())
    assert engine.inbound(TCP, bind.address, REMOTE).reason == "ip-filter"
    assert engine.inbound(TCP, bind.address, STRANGER).reason == "ip-filter"


def test_r30_the_bind_keeps_its_own_copy_of_the_filter(engine: Engine, lan: Session) -> None:
    callers = IpFilter.from_specs([REMOTE[0]])
    bind = make_bind(engine, lan)
    allow(engine, lan, bind, ip_filter=callers)
    assert bind.ip_filter is not callers
    callers.include_range(STRANGER[0], STRANGER[0])
    callers.exclude_range(REMOTE[0], REMOTE[0])
    assert engine.inbound(TCP, bind.address, REMOTE).accepted
    assert not engine.inbound(TCP, bind.address, STRANGER).accepted


def test_r32_increase_receive_buffer_is_recorded_for_udp(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan, UDP)
    assert allow(engine, lan, bind, flags=int(Flags.INCREASE_RECEIVE_BUFFER)) is HResult.S_OK
    assert bind.flags == Flags.INCREASE_RECEIVE_BUFFER
    assert (int(Flags.BIDIRECTIONAL), int(Flags.INCREASE_RECEIVE_BUFFER)) == (0x1, 0x2)


def test_r33_success_opens_the_packet_filter(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    assert engine.openings() == []
    allow(engine, lan, bind)
    assert [opening.bind_id for opening in engine.openings()] == [bind.id]


def ended(engine: Engine, session: Session, bind: Bind) -> None:
    engine.terminate(bind)


def approved(engine: Engine, session: Session, bind: Bind) -> None:
    assert allow(engine, session, bind) is HResult.S_OK


@pytest.mark.parametrize(
    ("setup", "change", "expected"),
    [
        (None, {"address": (EXTERNAL, 41000), "flags": 0x10}, HResult.E_INVALIDARG),
        (ended, {"address_length": 28}, HResult.E_INVALIDARG),
        (approved, {"protocol": 99}, HResult.E_INVALIDARG),
        (None, {"address": (EXTERNAL, 41000), "protocol_guid": ADMIN.guid}, HResult.NOT_FOUND),
        (ended, {"protocol_guid": ADMIN.guid}, HResult.FWX_E_TERMINATING),
        (approved, {"protocol_guid": ADMIN.guid}, HResult.S_FALSE),
        (approved, {"protocol_guid": None}, HResult.S_FALSE),
        (None, {"protocol_guid": ADMIN.guid}, HResult.FWX_E_PROTOCOL_RULES_DENIED),
    ],
    ids=[
        "invalid-before-lookup",
        "invalid-before-terminating",
        "invalid-before-already-allowed",
        "lookup-before-policy",
        "terminating-before-policy",
        "already-allowed-before-policy",
        "already-allowed-before-missing-guid",
        "policy-last",
    ],
)
def test_r34_checks_run_in_the_fixed_order(
    engine: Engine, lan: Session, setup: Any, change: dict[str, Any], expected: HResult
) -> None:
    """R34: validation -> lookup -> terminating -> already allowed -> policy -> allow."""
    bind = make_bind(engine, lan)
    if setup is not None:
        setup(engine, lan, bind)
    before = bind.state
    assert allow(engine, lan, bind, **change) is expected
    assert bind.state is before


def test_r35_discarded_traffic_is_not_replayed_after_approval(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    for _ in range(3):
        assert not engine.inbound(TCP, bind.address, REMOTE).accepted
    allow(engine, lan, bind)
    assert bind.accepted == 0
    assert bind.discarded == {"pending": 3}
    assert engine.inbound(TCP, bind.address, REMOTE).accepted
    assert bind.accepted == 1


def test_r36_the_check_is_by_guid_not_by_port(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan, port=40005)
    assert engine.register_protocol(FILTER_ONLY) is HResult.S_OK
    assert allow(engine, lan, bind, protocol_guid=FILTER_ONLY.guid) is HResult.S_OK
    assert bind.protocol == FILTER_ONLY.guid


def test_r84_the_policy_check_uses_the_sessions_user(engine: Engine) -> None:
    anonymous = engine.session("192.0.2.50")
    alice = engine.session("192.0.2.50", "alice", authenticated=True)
    theirs = make_bind(engine, anonymous)
    hers = make_bind(engine, alice, port=40001)
    assert allow(engine, anonymous, theirs, protocol_guid=ADMIN.guid) is (
        HResult.FWX_E_PROTOCOL_RULES_DENIED
    )
    assert allow(engine, alice, hers, protocol_guid=ADMIN.guid) is HResult.S_OK


def test_s_false_and_failures_are_reported_as_refusals(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind)
    events = engine.subscribe()
    allow(engine, lan, bind)
    allow(engine, lan, bind, address=(EXTERNAL, 0))
    assert refusals(events.drain()) == ["S_FALSE", "E_INVALIDARG"]
