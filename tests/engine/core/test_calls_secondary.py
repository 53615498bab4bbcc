"""BindForClient (R37-R45), AllowFutureConnect (R46-R48) and outbound connect verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.binds import BindState
from engine.core.clock import ManualClock
from engine.core.engine import Engine
from engine.core.events import Event, EventKind
from engine.core.flows import FutureFlags
from engine.core.ipfilter import IpFilter
from engine.core.results import Flags, HResult
from engine.core.sessions import Session

from .conftest import (
    EXTERNAL,
    FTP,
    LAN_CLIENT,
    REMOTE,
    STRANGER,
    TCP,
    UDP,
    make_bind,
    ruleset,
)

CLIENT = (LAN_CLIENT, 20)
SERVER = ("192.0.2.10", 2121)


def bind_for_client(engine: Engine, session: Session, **changes: Any) -> tuple[HResult, Any]:
    arguments: dict[str, Any] = {
        "transport": TCP,
        "client_addresses": [CLIENT],
        "proxy_address": (EXTERNAL, 0),
        "protocol_guid": FTP.guid,
        "flags": 0,
        "ip_filter": IpFilter.from_specs([SERVER[0]]),
        "actor": "filter:ftp",
    }
    arguments.update(changes)
    return engine.bind_for_client(session, **arguments)


def test_r37_bind_for_client_always_creates_a_new_bind(engine: Engine, lan: Session) -> None:
    own = make_bind(engine, lan)
    result, bind = bind_for_client(engine, lan)
    assert result is HResult.S_OK
    assert bind is not None
    assert bind is not own
    assert own.state is BindState.PENDING
    assert len(engine.binds()) == 2


def test_r38_port_zero_picks_a_free_port_from_the_configured_range(
    engine: Engine, lan: Session
) -> None:
    make_bind(engine, lan, port=40000)
    _result, bind = bind_for_client(engine, lan)
    assert bind is not None
    assert bind.address == (EXTERNAL, 40001)
    _, second = bind_for_client(engine, lan, proxy_address=(EXTERNAL, 0))
    assert second is not None
    assert second.address == (EXTERNAL, 40002)
    _, fixed = bind_for_client(engine, lan, proxy_address=(EXTERNAL, 45000))
    assert fixed is not None
    assert fixed.address == (EXTERNAL, 45000)


def test_r38_no_free_port_is_out_of_resources(clock: ManualClock) -> None:
    engine = Engine(ruleset(bind_ports=(40000, 40001)), clock=clock)
    session = engine.session(LAN_CLIENT)
    assert bind_for_client(engine, session)[0] is HResult.S_OK
    assert bind_for_client(engine, session)[0] is HResult.S_OK
    assert bind_for_client(engine, session) == (HResult.FWX_E_OUT_OF_RESOURCES, None)


def test_r38_a_taken_proxy_address_is_invalid(engine: Engine, lan: Session) -> None:
    make_bind(engine, lan, port=40003)
    assert bind_for_client(engine, lan, proxy_address=(EXTERNAL, 40003)) == (
        HResult.E_INVALIDARG,
        None,
    )


def test_r39_an_all_zeros_client_address_is_accepted(engine: Engine, lan: Session) -> None:
    result, bind = bind_for_client(engine, lan, client_addresses=[("0.0.0.0", 0)])
    assert result is HResult.S_OK
    assert bind is not None
    assert bind.client_addresses == (("0.0.0.0", 0),)


def test_r40_client_addresses_keep_their_order(engine: Engine, lan: Session) -> None:
    """R40: fwx returns one bind carrying every client address, in the order given."""
    addresses = [("10.0.0.7", 20), ("10.0.0.5", 20), ("10.0.0.6", 21)]
    _, bind = bind_for_client(engine, lan, client_addresses=addresses)
    assert bind is not None
    assert list(bind.client_addresses) == addresses


def test_r43_the_bind_is_restricted_by_its_filter(engine: Engine, lan: Session) -> None:
    _, bind = bind_for_client(engine, lan)
    assert bind is not None
    assert engine.inbound(TCP, bind.address, (SERVER[0], 20)).accepted
    assert engine.inbound(TCP, bind.address, REMOTE).reason == "ip-filter"
    _, open_bind = bind_for_client(engine, lan, ip_filter=None)
    assert open_bind is not None
    assert engine.inbound(TCP, open_bind.address, STRANGER).accepted
    _, closed_bind = bind_for_client(engine, lan, ip_filter=IpFilter())
    assert closed_bind is not None
    assert not engine.inbound(TCP, closed_bind.address, (SERVER[0], 20)).accepted


def test_r44_the_bind_is_allowed_from_the_start_when_the_user_may_use_the_protocol(
    engine: Engine, lan: Session
) -> None:
    _, bind = bind_for_client(engine, lan)
    assert bind is not None
    assert bind.state is BindState.ALLOWED
    assert (bind.protocol, bind.allowed_by) == (FTP.guid, "filter:ftp")
    assert [opening.bind_id for opening in engine.openings()] == [bind.id]


def test_r44_a_denied_protocol_fails_and_creates_nothing(engine: Engine, wan: Session) -> None:
    events = engine.subscribe()
    assert bind_for_client(engine, wan) == (HResult.FWX_E_PROTOCOL_RULES_DENIED, None)
    assert bind_for_client(engine, wan, protocol_guid=None) == (
        HResult.FWX_E_PROTOCOL_RULES_DENIED,
        None,
    )
    assert engine.binds() == []
    kinds = [event.kind for event in events.drain() if isinstance(event, Event)]
    assert kinds == [EventKind.ALLOW_REFUSED, EventKind.ALLOW_REFUSED]


def test_r45_the_client_addresses_tell_the_data_plane_where_to_forward(
    engine: Engine, lan: Session
) -> None:
    _, bind = bind_for_client(engine, lan)
    assert bind is not None
    assert bind.client_addresses == (CLIENT,)


@pytest.mark.parametrize(
    "change",
    [
        {"flags": int(Flags.BIDIRECTIONAL)},
        {"flags": 0x8},
        {"client_addresses": []},
        {"client_addresses": [("nope", 1)]},
        {"proxy_address": ("nope", 0)},
        {"transport": 1},
    ],
    ids=lambda change: next(iter(change)),
)
def test_r22_bind_for_client_validates_like_retroactive_allow(
    engine: Engine, lan: Session, change: dict[str, Any]
) -> None:
    assert bind_for_client(engine, lan, **change) == (HResult.E_INVALIDARG, None)
    assert engine.binds() == []


def test_bind_for_client_on_udp_takes_udp_flags(engine: Engine, lan: Session) -> None:
    result, bind = bind_for_client(engine, lan, transport=UDP, flags=int(Flags.BIDIRECTIONAL))
    assert result is HResult.S_OK
    assert bind is not None
    assert bind.flags == Flags.BIDIRECTIONAL


def test_bind_for_client_counts_against_the_session_cap(clock: ManualClock) -> None:
    engine = Engine(ruleset(max_binds_per_session=1), clock=clock)
    session = engine.session(LAN_CLIENT)
    make_bind(engine, session)
    assert bind_for_client(engine, session) == (HResult.FWX_E_OUT_OF_RESOURCES, None)


def grant(engine: Engine, session: Session, flags: FutureFlags = FutureFlags.TIMEOUT) -> HResult:
    return engine.allow_future_connect(session, SERVER, TCP, FTP.guid, flags, actor="filter:ftp")


def test_r46_a_permission_lets_one_connection_through_that_no_rule_would(
    engine: Engine, lan: Session
) -> None:
    assert engine.connect(lan, SERVER).reason == "rules"
    assert grant(engine, lan) is HResult.S_OK
    verdict = engine.connect(lan, SERVER)
    assert verdict.accepted
    assert verdict.reason == "future-connect"
    assert engine.connect(lan, SERVER).reason == "rules"


def test_r46_allow_multiple_lets_every_connection_through(engine: Engine, lan: Session) -> None:
    grant(engine, lan, FutureFlags.ALLOW_MULTIPLE)
    assert all(engine.connect(lan, SERVER).accepted for _ in range(4))
    assert engine.future_connects()[0].uses == 4


def test_r47_a_timeout_permission_lapses_after_sixty_seconds(
    engine: Engine, lan: Session, clock: ManualClock
) -> None:
    grant(engine, lan)
    clock.advance(59.0)
    engine.tick()
    assert len(engine.future_connects()) == 1
    clock.advance(1.0)
    assert not engine.connect(lan, SERVER).accepted
    engine.tick()
    assert engine.future_connects() == []


def test_r48_address_based_permissions_serve_any_session_of_the_client_ip(
    engine: Engine, lan: Session
) -> None:
    sibling = engine.session(LAN_CLIENT, "alice", authenticated=True)
    grant(engine, lan)
    assert not engine.connect(sibling, SERVER).accepted
    grant(engine, lan, FutureFlags.ADDRESS_BASED)
    assert engine.connect(sibling, SERVER).accepted


def test_future_connect_needs_a_protocol_the_user_may_use(engine: Engine, wan: Session) -> None:
    assert grant(engine, wan) is HResult.FWX_E_PROTOCOL_RULES_DENIED
    assert engine.future_connects() == []


@pytest.mark.parametrize(
    ("address", "flags"),
    [((SERVER[0], 0), FutureFlags.TIMEOUT), (SERVER, 0x10), (("nope", 21), 0)],
)
def test_future_connect_validates_its_arguments(
    engine: Engine, lan: Session, address: Any, flags: int
) -> None:
    result = engine.allow_future_connect(lan, address, TCP, FTP.guid, flags, actor="t")  # type: ignore[arg-type]
    assert result is HResult.E_INVALIDARG


def test_future_connect_events(engine: Engine, lan: Session) -> None:
    events = engine.subscribe()
    grant(engine, lan)
    engine.connect(lan, SERVER)
    kinds = [event.kind for event in events.drain() if isinstance(event, Event)]
    assert kinds == [
        EventKind.FUTURE_CONNECT_GRANTED,
        EventKind.FUTURE_CONNECT_USED,
        EventKind.CONNECT,
    ]


def test_connect_follows_the_outbound_protocol_rules(engine: Engine, lan: Session) -> None:
    verdict = engine.connect(lan, ("192.0.2.10", 21))
    assert verdict.accepted
    assert verdict.reason == "allowed"
    assert verdict.detail == 'FTP: allowed by "lan may use everything but Admin"'


def test_connect_refuses_what_no_rule_allows(engine: Engine, wan: Session) -> None:
    verdict = engine.connect(wan, ("192.0.2.10", 80))
    assert not verdict.accepted
    assert (verdict.reason, verdict.detail) == ("rules", "HTTP: no allow rule")


def test_connect_refuses_ports_no_protocol_covers(engine: Engine, lan: Session) -> None:
    verdict = engine.connect(lan, ("192.0.2.10", 7777))
    assert verdict.reason == "rules"
    assert "no protocol" in verdict.detail


def test_connect_by_udp_uses_send_protocols(engine: Engine, lan: Session) -> None:
    assert engine.connect(lan, ("192.0.2.53", 53), UDP).accepted
    assert engine.connect(lan, ("192.0.2.53", 123), UDP).accepted
    assert not engine.connect(lan, ("192.0.2.53", 514), UDP).accepted


def test_connect_to_an_invalid_destination_is_refused(engine: Engine, lan: Session) -> None:
    for destination in (("nope", 21), ("192.0.2.10", 0)):
        verdict = engine.connect(lan, destination)
        assert (verdict.reason, verdict.detail) == ("rules", "invalid destination")


def test_every_connect_is_an_event(engine: Engine, lan: Session) -> None:
    events = engine.subscribe()
    engine.connect(lan, ("192.0.2.10", 21))
    (event,) = events.drain()
    assert isinstance(event, Event)
    assert event.kind is EventKind.CONNECT
    assert event.detail["verdict"] == "accept"
    assert event.detail["destination"] == "192.0.2.10:21"
