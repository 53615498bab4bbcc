"""The hot path: inbound, datagram_in and datagram_out (R12, R26-R31, R67-R69, UDP flows)."""

from __future__ import annotations

import pytest

from engine.core.binds import Bind
from engine.core.clock import ManualClock
from engine.core.engine import Engine
from engine.core.events import Event, EventKind
from engine.core.ipfilter import IpFilter
from engine.core.results import Flags, HResult
from engine.core.sessions import Session

from .conftest import EXTERNAL, LAN_CLIENT, REMOTE, RULES, STRANGER, TCP, UDP, allow, make_bind

DNS_SERVER = ("192.0.2.53", 53)
NTP_SERVER = ("192.0.2.123", 123)


def kinds(engine_events: list[object]) -> list[EventKind]:
    return [event.kind for event in engine_events if isinstance(event, Event)]


@pytest.fixture
def udp(engine: Engine, lan: Session) -> Bind:
    """A pending UDP bind (UDP ASSOCIATE) of the LAN session."""
    return make_bind(engine, lan, UDP, 40001)


def test_r12_a_pending_bind_discards_every_attempt_and_datagram(
    engine: Engine, lan: Session, udp: Bind
) -> None:
    tcp = make_bind(engine, lan)
    assert engine.inbound(TCP, tcp.address, REMOTE).reason == "pending"
    assert engine.datagram_in(udp.address, REMOTE).reason == "pending"
    assert not engine.datagram_in(udp.address, STRANGER).accepted
    assert tcp.discarded == {"pending": 1}
    assert udp.discarded == {"pending": 2}
    assert (tcp.accepted, udp.accepted) == (0, 0)


def test_r12_discards_are_remembered_with_time_and_remote(
    engine: Engine, lan: Session, clock: ManualClock
) -> None:
    bind = make_bind(engine, lan)
    clock.advance(3.0)
    engine.inbound(TCP, bind.address, REMOTE)
    assert list(bind.recent_discards) == [(3.0, REMOTE, "pending")]
    assert (bind.first_seen, bind.last_seen) == (3.0, 3.0)


def test_r26_an_allowed_bind_counts_what_it_accepts(
    engine: Engine, lan: Session, clock: ManualClock
) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind)
    clock.advance(1.0)
    engine.inbound(TCP, bind.address, REMOTE)
    clock.advance(1.0)
    engine.inbound(TCP, bind.address, STRANGER)
    assert bind.accepted == 2
    assert (bind.first_seen, bind.last_seen) == (1.0, 2.0)
    assert bind.discarded == {}


def test_r26_udp_datagrams_reach_an_allowed_bind(engine: Engine, lan: Session, udp: Bind) -> None:
    allow(engine, lan, udp)
    verdict = engine.datagram_in(udp.address, REMOTE)
    assert verdict.accepted
    assert verdict.reason == "allowed"
    assert verdict.bind is udp


def test_r28_the_filter_restricts_datagrams_too(engine: Engine, lan: Session, udp: Bind) -> None:
    allow(engine, lan, udp, ip_filter=IpFilter.from_specs(["203.0.113.0/24"]))
    assert engine.datagram_in(udp.address, REMOTE).accepted
    assert engine.datagram_in(udp.address, STRANGER).reason == "ip-filter"


def test_r67_none_and_an_empty_filter_are_opposites(engine: Engine, lan: Session) -> None:
    open_bind = make_bind(engine, lan)
    shut_bind = make_bind(engine, lan, port=40002)
    allow(engine, lan, open_bind, ip_filter=None)
    allow(engine, lan, shut_bind, ip_filter=IpFilter())
    assert engine.inbound(TCP, open_bind.address, REMOTE).accepted
    assert not engine.inbound(TCP, shut_bind.address, REMOTE).accepted


def test_r69_the_filter_applies_to_the_remote_never_to_the_client(
    engine: Engine, lan: Session
) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind, ip_filter=IpFilter.from_specs([LAN_CLIENT, EXTERNAL]))
    assert engine.inbound(TCP, bind.address, REMOTE).reason == "ip-filter"
    assert engine.inbound(TCP, bind.address, (LAN_CLIENT, 1)).accepted


def test_r28_ipv6_remotes_are_judged_by_the_same_filter(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    allow(engine, lan, bind, ip_filter=IpFilter.from_specs(["2001:db8::/32"]))
    assert engine.inbound(TCP, bind.address, ("2001:db8::7", 5555)).accepted
    assert not engine.inbound(TCP, bind.address, ("2001:db9::7", 5555)).accepted
    assert not engine.inbound(TCP, bind.address, REMOTE).accepted


def test_traffic_to_a_wildcard_bind_is_found_by_port(engine: Engine, lan: Session) -> None:
    _, bind = engine.bind(lan, TCP, ("0.0.0.0", 40000))
    assert bind is not None
    allow(engine, lan, bind)
    verdict = engine.inbound(TCP, (EXTERNAL, 40000), REMOTE)
    assert verdict.bind is bind
    assert verdict.accepted
    assert engine.inbound(TCP, ("2001:db8::1", 40000), REMOTE).reason == "no-bind"
    assert engine.datagram_in((EXTERNAL, 40000), REMOTE).reason == "no-bind"


def test_verdicts_are_preallocated(engine: Engine, lan: Session) -> None:
    bind = make_bind(engine, lan)
    first = engine.inbound(TCP, bind.address, REMOTE)
    assert engine.inbound(TCP, bind.address, STRANGER) is first
    allow(engine, lan, bind, ip_filter=IpFilter.from_specs([REMOTE[0]]))
    accepted = engine.inbound(TCP, bind.address, REMOTE)
    assert engine.inbound(TCP, bind.address, REMOTE) is accepted
    refused = engine.inbound(TCP, bind.address, STRANGER)
    assert engine.inbound(TCP, bind.address, STRANGER) is refused


def test_a_terminating_bind_discards_everything(engine: Engine, lan: Session, udp: Bind) -> None:
    tcp = make_bind(engine, lan)
    allow(engine, lan, tcp)
    allow(engine, lan, udp)
    engine.terminate(tcp)
    engine.terminate(udp)
    assert engine.inbound(TCP, tcp.address, REMOTE).reason == "terminating"
    assert engine.datagram_in(udp.address, REMOTE).reason == "terminating"
    assert engine.datagram_out(udp.address, DNS_SERVER).reason == "terminating"
    assert udp.discarded == {"terminating": 2}


def test_one_event_per_accepted_tcp_connection_and_none_per_datagram(
    engine: Engine, lan: Session, udp: Bind
) -> None:
    tcp = make_bind(engine, lan)
    allow(engine, lan, tcp)
    allow(engine, lan, udp)
    events = engine.subscribe()
    engine.inbound(TCP, tcp.address, REMOTE)
    engine.inbound(TCP, tcp.address, STRANGER)
    engine.datagram_in(udp.address, REMOTE)
    drained = events.drain()
    assert kinds(drained) == [EventKind.INBOUND_ACCEPTED] * 2
    event = drained[0]
    assert isinstance(event, Event)
    assert event.detail["remote"] == "203.0.113.7:5555"
    assert event.bind_id == tcp.id


def test_discards_are_summarised_never_evented_one_by_one(
    engine: Engine, lan: Session, clock: ManualClock
) -> None:
    bind = make_bind(engine, lan)
    events = engine.subscribe()
    for _ in range(500):
        engine.inbound(TCP, bind.address, REMOTE)
        engine.inbound(TCP, (EXTERNAL, 41000), REMOTE)
    assert events.drain() == []
    engine.tick()
    assert events.drain() == []
    clock.advance(1.0)
    engine.tick()
    summaries = [event for event in events.drain() if isinstance(event, Event)]
    assert [(event.kind, event.bind_id) for event in summaries] == [
        (EventKind.DISCARD_SUMMARY, bind.id),
        (EventKind.DISCARD_SUMMARY, None),
    ]
    assert summaries[0].detail["counts"] == {"pending": 500}
    assert summaries[1].detail["counts"] == {"no-bind": 500}
    clock.advance(1.0)
    engine.tick()
    assert events.drain() == []


def test_a_send_receive_flow_makes_the_destination_a_peer(
    engine: Engine, lan: Session, udp: Bind
) -> None:
    """UDP flows: a DNS query from a pending bind is ordinary outbound use; the answer gets in."""
    sent = engine.datagram_out(udp.address, DNS_SERVER)
    assert sent.accepted
    assert sent.reason == "allowed"
    answer = engine.datagram_in(udp.address, DNS_SERVER)
    assert answer.accepted
    assert answer.reason == "response"
    assert engine.datagram_in(udp.address, ("192.0.2.53", 5353)).reason == "pending"
    assert engine.datagram_in(udp.address, REMOTE).reason == "pending"
    assert udp.accepted == 2


def test_a_peer_is_forgotten_after_the_flow_window(
    engine: Engine, lan: Session, udp: Bind, clock: ManualClock
) -> None:
    assert engine.flow_window == RULES.service.udp_peer_timeout
    engine.datagram_out(udp.address, DNS_SERVER)
    clock.advance(engine.flow_window - 1)
    assert engine.datagram_in(udp.address, DNS_SERVER).accepted
    clock.advance(1)
    assert engine.datagram_in(udp.address, DNS_SERVER).reason == "pending"
    engine.tick()
    assert udp.peers is None


def test_a_configured_flow_window_wins(clock: ManualClock) -> None:
    engine = Engine(RULES, clock=clock, flow_window=5.0)
    session = engine.session(LAN_CLIENT)
    bind = make_bind(engine, session, UDP)
    engine.datagram_out(bind.address, DNS_SERVER)
    clock.advance(5.0)
    assert not engine.datagram_in(bind.address, DNS_SERVER).accepted


def test_a_peers_responses_pass_whatever_the_filter(
    engine: Engine, lan: Session, udp: Bind
) -> None:
    allow(engine, lan, udp, ip_filter=IpFilter())
    engine.datagram_out(udp.address, DNS_SERVER)
    assert engine.datagram_in(udp.address, DNS_SERVER).reason == "response"
    assert engine.datagram_in(udp.address, REMOTE).reason == "ip-filter"


def test_a_send_only_flow_makes_no_peer(engine: Engine, lan: Session, udp: Bind) -> None:
    assert engine.datagram_out(udp.address, NTP_SERVER).accepted
    assert engine.datagram_in(udp.address, NTP_SERVER).reason == "pending"


def test_outbound_datagrams_no_rule_covers_are_discarded(engine: Engine, wan: Session) -> None:
    bind = make_bind(engine, wan, UDP)
    assert engine.datagram_out(bind.address, DNS_SERVER).reason == "rules"
    assert engine.datagram_out(bind.address, (DNS_SERVER[0], 9999)).reason == "rules"
    assert bind.discarded == {"rules": 2}
    assert engine.datagram_in(bind.address, DNS_SERVER).reason == "pending"


def test_r31_bidirectional_lets_the_bind_answer_recent_senders(
    engine: Engine, lan: Session, udp: Bind, clock: ManualClock
) -> None:
    allow(engine, lan, udp, flags=int(Flags.BIDIRECTIONAL))
    player = ("203.0.113.7", 7000)
    assert engine.datagram_out(udp.address, player).reason == "rules"
    assert engine.datagram_in(udp.address, player).accepted
    reply = engine.datagram_out(udp.address, player)
    assert reply.accepted
    assert reply.reason == "bidirectional"
    assert engine.datagram_out(udp.address, ("203.0.113.8", 7000)).reason == "rules"
    clock.advance(engine.flow_window)
    assert engine.datagram_out(udp.address, player).reason == "rules"


def test_r31_without_the_flag_replies_are_judged_by_outbound_policy_only(
    engine: Engine, lan: Session, udp: Bind
) -> None:
    allow(engine, lan, udp)
    player = ("203.0.113.7", 7000)
    assert engine.datagram_in(udp.address, player).accepted
    assert engine.datagram_out(udp.address, player).reason == "rules"
    resolver = ("203.0.113.7", 53)
    assert engine.datagram_in(udp.address, resolver).accepted
    assert engine.datagram_out(udp.address, resolver).reason == "allowed"


def test_r31_a_sender_the_filter_refused_is_no_recent_sender(
    engine: Engine, lan: Session, udp: Bind
) -> None:
    allow(engine, lan, udp, flags=int(Flags.BIDIRECTIONAL), ip_filter=IpFilter())
    player = ("203.0.113.7", 7000)
    assert not engine.datagram_in(udp.address, player).accepted
    assert engine.datagram_out(udp.address, player).reason == "rules"


def test_receive_send_is_the_mirror_the_remote_speaks_first(engine: Engine, lan: Session) -> None:
    """A receive-send protocol (R74) allows the bind at bind time, and it may answer (R31)."""
    result, media = engine.bind(lan, UDP, (EXTERNAL, 5004))
    assert result is HResult.S_OK
    assert media is not None
    assert media.flags == Flags.BIDIRECTIONAL
    caller = ("203.0.113.7", 9000)
    assert engine.datagram_out(media.address, caller).reason == "rules"
    assert engine.datagram_in(media.address, caller).accepted
    assert engine.datagram_out(media.address, caller).reason == "bidirectional"


def test_receive_only_binds_take_datagrams_but_do_not_answer(engine: Engine, lan: Session) -> None:
    _, syslog = engine.bind(lan, UDP, (EXTERNAL, 514))
    assert syslog is not None
    assert syslog.flags == Flags.NONE
    sender = ("203.0.113.7", 9000)
    assert engine.datagram_in(syslog.address, sender).accepted
    assert engine.datagram_out(syslog.address, sender).reason == "rules"


def test_datagrams_for_no_bind_are_discarded(engine: Engine) -> None:
    assert engine.datagram_in((EXTERNAL, 41000), REMOTE).reason == "no-bind"
    assert engine.datagram_out((EXTERNAL, 41000), REMOTE).reason == "no-bind"
