"""The dynamic packet filter: openings exist exactly while a bind is allowed (R33, R86-R90)."""

from __future__ import annotations

from engine.core.clock import ManualClock
from engine.core.engine import Engine
from engine.core.ipfilter import IpFilter
from engine.core.openings import Opening
from engine.core.results import HResult
from engine.core.sessions import Session

from .conftest import EXTERNAL, REMOTE, STRANGER, TCP, UDP, allow, make_bind, ruleset


def test_r33_a_pending_bind_has_no_opening(engine: Engine, lan: Session) -> None:
    make_bind(engine, lan)
    assert engine.openings() == []


def test_r33_an_allowed_bind_gets_an_opening_with_its_filter_ranges(
    engine: Engine, lan: Session
) -> None:
    bind = make_bind(engine, lan)
    assert allow(engine, lan, bind, ip_filter=IpFilter.from_specs(["203.0.113.0/24"])) is (
        HResult.S_OK
    )
    (opening,) = engine.openings()
    assert bind.ip_filter is not None
    assert opening == Opening(TCP, (EXTERNAL, 40000), bind.ip_filter.ranges, bind.id)
    assert opening.remote is not None
    assert opening.remote.specs() == ["203.0.113.0/24"]


def test_r33_a_bind_without_filter_opens_to_anyone(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan, UDP)
    allow(engine, lan, bind)
    (opening,) = engine.openings()
    assert opening.remote is None
    assert opening.transport is UDP


def test_r90_the_opening_goes_when_the_bind_terminates(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind)
    engine.terminate(bind)
    assert engine.openings() == []
    engine.close(bind)
    assert engine.openings() == []


def test_r90_openings_follow_each_bind(engine: Engine, lan: Session) -> None:
    first, second, third = (make_bind(engine, lan, port=port) for port in (40000, 40001, 40002))
    allow(engine, lan, first)
    allow(engine, lan, third)
    assert [opening.bind_id for opening in engine.openings()] == [first.id, third.id]
    engine.close(first)
    assert [opening.bind_id for opening in engine.openings()] == [third.id]
    assert second.state.value == "pending"


def test_r86_traffic_to_an_address_without_bind_is_dropped(engine: Engine) -> None:
    verdict = engine.inbound(TCP, (EXTERNAL, 41000), REMOTE)
    assert not verdict.accepted
    assert verdict.reason == "no-bind"
    assert verdict.bind is None
    assert not engine.datagram_in((EXTERNAL, 41000), REMOTE).accepted


def test_r68_with_packet_filtering_off_there_are_no_openings_but_filters_still_hold(
    clock: ManualClock,
) -> None:
    """R68: fwx's own data plane always enforces IP filters (a documented choice)."""
    engine = Engine(ruleset(packet_filtering=False), clock=clock)
    session = engine.session("10.0.0.5")
    bind = make_bind(engine, session)
    allow(engine, session, bind, ip_filter=IpFilter.from_specs([REMOTE[0]]))
    assert engine.openings() == []
    assert engine.inbound(TCP, bind.address, REMOTE).accepted
    assert engine.inbound(TCP, bind.address, STRANGER).reason == "ip-filter"


def test_r33_turning_packet_filtering_on_or_off_by_reload_adds_or_drops_openings(
    engine: Engine, lan: Session
) -> None:
    allowed = make_bind(engine, lan)
    allow(engine, lan, allowed)
    make_bind(engine, lan, port=40001)
    engine.replace_rules(ruleset(packet_filtering=False))
    assert engine.openings() == []
    engine.replace_rules(ruleset(packet_filtering=True))
    assert [opening.bind_id for opening in engine.openings()] == [allowed.id]


def test_r88_without_packet_filtering_the_rules_still_decide(clock: ManualClock) -> None:
    engine = Engine(ruleset(packet_filtering=False), clock=clock)
    lan = engine.session("10.0.0.5")
    wan = engine.session("192.0.2.50")
    pending = make_bind(engine, lan)
    assert engine.inbound(TCP, pending.address, REMOTE).reason == "pending"
    assert not engine.connect(wan, ("192.0.2.10", 80)).accepted
    assert engine.connect(lan, ("192.0.2.10", 80)).accepted
