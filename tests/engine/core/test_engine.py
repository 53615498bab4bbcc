"""The Engine facade: binds (R9-R11), ends (R103, R104), time-outs, reloads (R85), registry
(R70, R76) and result codes (R96, R97)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.core.binds import BindState, IllegalTransition
from engine.core.bindtable import DYNAMIC_PORTS
from engine.core.clock import ManualClock
from engine.core.engine import Engine
from engine.core.events import Event, EventKind, Gap
from engine.core.ipfilter import IpFilter
from engine.core.results import HResult
from engine.core.sessions import Session
from rules.model import Action, ProtocolRule

from .conftest import (
    EXTERNAL,
    FILTER_ONLY,
    FTP,
    GAME,
    LAN_CLIENT,
    REMOTE,
    RULES,
    TCP,
    UDP,
    allow,
    make_bind,
    ruleset,
)

NO_ALLOW_RULES = replace(RULES, rules=())


def drained_kinds(events: list[Event | Gap]) -> list[EventKind]:
    return [event.kind for event in events if isinstance(event, Event)]


def test_r9_r10_a_bind_no_rule_allows_still_succeeds_pending(engine: Engine, wan: Session) -> None:
    result, bind = engine.bind(wan, TCP, (EXTERNAL, 40000))
    assert result is HResult.S_OK
    assert bind is not None
    assert bind.state is BindState.PENDING
    assert engine.get_bind(bind.id) is bind
    assert engine.binds() == [bind]


def test_r11_a_recognised_protocol_the_session_may_use_is_allowed_at_bind_time(
    engine: Engine, lan: Session
) -> None:
    events = engine.subscribe()
    _result, bind = engine.bind(lan, TCP, (EXTERNAL, 7777))
    assert bind is not None
    assert bind.state is BindState.ALLOWED
    assert bind.protocol == GAME.guid
    assert bind.allowed_by == "rules:lan may use everything but Admin"
    assert bind.ip_filter is None
    assert [opening.bind_id for opening in engine.openings()] == [bind.id]
    assert drained_kinds(events.drain()) == [EventKind.BIND_CREATED, EventKind.BIND_ALLOWED]


def test_r11_a_denied_or_unrecognised_bind_stays_pending(engine: Engine) -> None:
    bob = engine.session(LAN_CLIENT, "bob", authenticated=True)
    _, game = engine.bind(bob, TCP, (EXTERNAL, 7777))
    _, dns = engine.bind(bob, UDP, (EXTERNAL, 53))
    _, other = engine.bind(bob, UDP, (EXTERNAL, 7777))
    assert game is not None
    assert dns is not None
    assert other is not None
    assert [bind.state for bind in (game, dns, other)] == [BindState.PENDING] * 3


def test_bind_refuses_a_taken_address(engine: Engine, lan: Session) -> None:
    make_bind(engine, lan)
    other = engine.session("192.0.2.50")
    assert engine.bind(other, TCP, (EXTERNAL, 40000)) == (HResult.E_INVALIDARG, None)
    assert engine.bind(other, TCP, ("0.0.0.0", 40000)) == (HResult.E_INVALIDARG, None)
    assert engine.bind(other, UDP, (EXTERNAL, 40000))[0] is HResult.S_OK


@pytest.mark.parametrize("address", [("nope", 1), (EXTERNAL, 70000), (EXTERNAL,)])
def test_bind_refuses_a_bad_address(engine: Engine, lan: Session, address: object) -> None:
    assert engine.bind(lan, TCP, address) == (HResult.E_INVALIDARG, None)  # type: ignore[arg-type]


def test_bind_refuses_past_the_session_cap(clock: ManualClock) -> None:
    engine = Engine(ruleset(max_binds_per_session=2), clock=clock)
    session = engine.session(LAN_CLIENT)
    first = make_bind(engine, session, port=40000)
    make_bind(engine, session, port=40001)
    assert engine.bind(session, TCP, (EXTERNAL, 40002)) == (HResult.FWX_E_OUT_OF_RESOURCES, None)
    engine.close(first)
    assert engine.bind(session, TCP, (EXTERNAL, 40002))[0] is HResult.S_OK


def test_bind_port_zero_uses_the_dynamic_range_by_default(clock: ManualClock) -> None:
    engine = Engine(ruleset(bind_ports=None), clock=clock)
    _, bind = engine.bind(engine.session(LAN_CLIENT), UDP, (EXTERNAL, 0))
    assert bind is not None
    assert DYNAMIC_PORTS[0] <= bind.address[1] <= DYNAMIC_PORTS[1]


def test_r103_terminate_then_close(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind)
    assert engine.terminate(bind) is HResult.S_OK
    assert engine.openings() == []
    assert allow(engine, lan, bind) is HResult.FWX_E_TERMINATING
    assert engine.inbound(TCP, bind.address, REMOTE).reason == "terminating"
    assert engine.terminate(bind) is HResult.FWX_E_TERMINATING
    assert engine.close(bind) is HResult.S_OK
    assert allow(engine, lan, bind) is HResult.NOT_FOUND
    assert engine.get_bind(bind.id) is None
    assert engine.inbound(TCP, bind.address, REMOTE).reason == "no-bind"
    assert engine.close(bind) is HResult.NOT_FOUND
    assert engine.terminate(bind) is HResult.NOT_FOUND


def test_r91_r104_a_new_bind_on_a_formerly_allowed_port_starts_pending(
    engine: Engine, lan: Session
) -> None:
    old = make_bind(engine, lan, UDP)
    allow(engine, lan, old)
    engine.close(old)
    new = make_bind(engine, lan, UDP)
    assert new.address == old.address
    assert new.state is BindState.PENDING
    assert engine.datagram_in(new.address, REMOTE).reason == "pending"


def test_a_pending_bind_times_out_and_is_closed_never_approved(
    clock: ManualClock,
) -> None:
    engine = Engine(ruleset(pending_bind_timeout=30.0), clock=clock)
    session = engine.session(LAN_CLIENT)
    events = engine.subscribe()
    pending = make_bind(engine, session)
    allowed = make_bind(engine, session, port=40001)
    allow(engine, session, allowed)
    clock.advance(29.0)
    engine.tick()
    assert pending.state is BindState.PENDING
    clock.advance(1.0)
    engine.tick()
    assert pending.state is BindState.CLOSED
    assert allowed.state is BindState.ALLOWED
    kinds = drained_kinds(events.drain())
    assert kinds[-3:] == [
        EventKind.BIND_EXPIRED,
        EventKind.BIND_TERMINATING,
        EventKind.BIND_CLOSED,
    ]


def test_r85_a_reload_keeps_every_live_bind_as_it_is(engine: Engine, lan: Session) -> None:
    allowed = make_bind(engine, lan)
    allow(engine, lan, allowed, ip_filter=IpFilter.from_specs([REMOTE[0]]))
    pending = make_bind(engine, lan, port=40001)
    change = engine.replace_rules(NO_ALLOW_RULES)
    assert change.rules_removed == [rule.name for rule in RULES.rules]
    assert allowed.state is BindState.ALLOWED
    assert engine.inbound(TCP, allowed.address, REMOTE).accepted
    assert pending.state is BindState.PENDING
    assert allow(engine, lan, pending) is HResult.FWX_E_PROTOCOL_RULES_DENIED
    assert engine.rules is NO_ALLOW_RULES


def test_r85_would_differ_lists_pending_binds_the_new_rules_would_allow(
    clock: ManualClock,
) -> None:
    engine = Engine(NO_ALLOW_RULES, clock=clock)
    session = engine.session(LAN_CLIENT)
    game = make_bind(engine, session, port=7777)
    other = make_bind(engine, session, port=40000)
    assert game.state is BindState.PENDING
    events = engine.subscribe()
    change = engine.replace_rules(RULES)
    assert change.would_differ == [game.id]
    assert game.state is BindState.PENDING
    assert engine.recheck([game.id, other.id, 999]) == [
        HResult.S_OK,
        HResult.FWX_E_PROTOCOL_RULES_DENIED,
        HResult.NOT_FOUND,
    ]
    assert game.state is BindState.ALLOWED
    assert game.allowed_by == "rules:lan may use everything but Admin"
    assert engine.recheck([game.id]) == [HResult.S_FALSE]
    engine.terminate(other)
    assert engine.recheck([other.id]) == [HResult.FWX_E_TERMINATING]
    assert drained_kinds(events.drain())[0] is EventKind.RULES_REPLACED


def test_a_reload_moves_the_flow_window_unless_it_was_given(clock: ManualClock) -> None:
    following = Engine(RULES, clock=clock)
    fixed = Engine(RULES, clock=clock, flow_window=3.0)
    for engine in (following, fixed):
        engine.replace_rules(ruleset(udp_peer_timeout=10.0))
    assert (following.flow_window, fixed.flow_window) == (10.0, 3.0)


def test_a_reload_applies_new_deny_rules_to_future_checks(engine: Engine, lan: Session) -> None:
    deny_ftp = ProtocolRule("no ftp", Action.DENY, protocols=("FTP",))
    engine.replace_rules(replace(RULES, rules=(*RULES.rules, deny_ftp)))
    assert not engine.connect(lan, ("192.0.2.10", 21)).accepted
    assert allow(engine, lan, make_bind(engine, lan)) is HResult.FWX_E_PROTOCOL_RULES_DENIED


def test_r70_registering_a_known_guid_fails_and_keeps_the_first(engine: Engine) -> None:
    events = engine.subscribe()
    assert engine.register_protocol(replace(FTP, name="impostor")) is HResult.ALREADY_EXISTS
    assert engine.register_protocol(FILTER_ONLY) is HResult.S_OK
    assert engine.register_protocol(FILTER_ONLY) is HResult.ALREADY_EXISTS
    assert [p.name for p in engine.protocols()].count("FTP") == 1
    assert engine.protocols()[-1] is FILTER_ONLY
    assert drained_kinds(events.drain()) == [EventKind.PROTOCOL_REGISTERED]


def test_r76_unregistering_keeps_binds_allowed_and_refuses_new_allows(
    engine: Engine, lan: Session
) -> None:
    engine.register_protocol(FILTER_ONLY)
    first = make_bind(engine, lan)
    second = make_bind(engine, lan, port=40001)
    allow(engine, lan, first, protocol_guid=FILTER_ONLY.guid)
    assert engine.unregister_protocol(FILTER_ONLY.guid) is HResult.S_OK
    assert engine.unregister_protocol(FILTER_ONLY.guid) is HResult.NOT_FOUND
    assert first.state is BindState.ALLOWED
    assert engine.inbound(TCP, first.address, REMOTE).accepted
    assert allow(engine, lan, second, protocol_guid=FILTER_ONLY.guid) is (
        HResult.FWX_E_PROTOCOL_RULES_DENIED
    )


def test_r76_an_unregistered_protocol_no_longer_decides_connects(
    engine: Engine, lan: Session
) -> None:
    engine.register_protocol(FILTER_ONLY)
    assert engine.connect(lan, ("192.0.2.10", 9000)).accepted
    engine.unregister_protocol(FILTER_ONLY.guid)
    assert not engine.connect(lan, ("192.0.2.10", 9000)).accepted


def test_r96_r97_every_result_is_a_known_code_with_the_right_severity(
    engine: Engine, lan: Session
) -> None:
    bind = make_bind(engine, lan)
    results = [
        allow(engine, lan, bind, address=(EXTERNAL, 0)),
        allow(engine, lan, bind, address=(EXTERNAL, 41000)),
        allow(engine, lan, bind, protocol_guid=None),
        allow(engine, lan, bind),
        allow(engine, lan, bind),
        engine.register_protocol(FTP),
        engine.unregister_protocol(FILTER_ONLY.guid),
        engine.terminate(bind),
        allow(engine, lan, bind),
        engine.close(bind),
    ]
    allowed_codes = {0x0, 0x1, 0x80070057} | {0x80070000 | n for n in range(0x10000)}
    allowed_codes |= {0xC0040000 | n for n in range(0x60)}
    for result in results:
        assert int(result) in allowed_codes
        assert result.succeeded == (not int(result) & 0x80000000)
    assert [result.name for result in results] == [
        "E_INVALIDARG",
        "NOT_FOUND",
        "FWX_E_PROTOCOL_RULES_DENIED",
        "S_OK",
        "S_FALSE",
        "ALREADY_EXISTS",
        "NOT_FOUND",
        "S_OK",
        "FWX_E_TERMINATING",
        "S_OK",
    ]
    assert (HResult.NOT_FOUND.hex, HResult.ALREADY_EXISTS.hex) == ("0x80070490", "0x800700B7")


def test_expected_outcomes_never_raise(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    for _ in range(2):
        engine.terminate(bind)
        engine.close(bind)
        engine.end_session(lan)
    engine.tick()
    with pytest.raises(IllegalTransition):
        bind.move(BindState.ALLOWED)


def test_a_slow_subscriber_gets_a_gap_and_the_engine_goes_on(engine: Engine, lan: Session) -> None:
    slow = engine.subscribe(capacity=2)
    for port in range(40000, 40005):
        make_bind(engine, lan, port=port)
    drained = slow.drain()
    assert drained[0] == Gap(3)
    assert len(drained) == 3
    assert len(engine.binds()) == 5
    slow.close()
    make_bind(engine, lan, port=40005)
    assert slow.drain() == []


def test_sessions_and_binds_are_listed_oldest_first(engine: Engine) -> None:
    first = engine.session("10.0.0.7")
    second = engine.session("10.0.0.6")
    assert engine.sessions() == [first, second]
    binds = [make_bind(engine, second, port=40003), make_bind(engine, first, port=40001)]
    assert engine.binds() == binds


def test_r54_every_state_changing_call_on_a_terminating_bind_answers_terminating(
    engine: Engine, lan: Session
) -> None:
    bind = make_bind(engine, lan)
    engine.terminate(bind)
    assert allow(engine, lan, bind) is HResult.FWX_E_TERMINATING
    assert engine.terminate(bind) is HResult.FWX_E_TERMINATING
    assert engine.recheck([bind.id]) == [HResult.FWX_E_TERMINATING]
    assert bind.state is BindState.TERMINATING
