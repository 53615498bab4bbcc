"""The demo's rule file: valid, and shaped so some binds are approved at bind time."""

from __future__ import annotations

from pathlib import Path

from console.tui.demo import (
    APPROVED_PORTS,
    BIND_PORTS,
    CLIENTS,
    PEERS,
    demo_ruleset,
    write_demo_rules,
)
from engine import Engine, HResult, IpFilter, ManualClock, Transport
from rules.loader import load
from rules.validate import validate


def test_the_demo_rules_are_valid_and_round_trip(tmp_path: Path) -> None:
    assert validate(demo_ruleset()) == []
    assert load(write_demo_rules(tmp_path)) == demo_ruleset()


def test_r11_demo_binds_on_the_approved_ports_are_allowed_at_bind_time() -> None:
    """R11: a protocol whose primary connection is inbound on the port, allowed by a rule."""
    engine = Engine(demo_ruleset(), clock=ManualClock())
    session = engine.session(CLIENTS[0])
    states = {}
    for transport in Transport:
        for port in range(BIND_PORTS[0], BIND_PORTS[1] + 1):
            _, bind = engine.bind(session, transport, ("127.0.0.1", port))
            assert bind is not None
            states[transport, port] = bind.state.value
    for (_, port), state in states.items():
        assert state == ("allowed" if port in APPROVED_PORTS else "pending")


def test_every_client_gets_a_port_and_some_binds_wait_whatever_ports_they_get() -> None:
    """As many ports as clients, half approved: at least one bind allowed and one pending."""
    size = BIND_PORTS[1] - BIND_PORTS[0] + 1
    assert len(CLIENTS) <= size
    assert len(CLIENTS) - (size - len(APPROVED_PORTS)) >= 1
    assert len(CLIENTS) - len(APPROVED_PORTS) >= 1


def test_the_demo_peers_set_admits_two_of_the_three_peers() -> None:
    peers = demo_ruleset().ip_filter("demo peers")
    assert peers is not None
    ip_filter = IpFilter.from_specs(peers.include, peers.exclude)
    admitted = [peer for peer in PEERS if ip_filter.is_included(peer) is HResult.S_OK]
    assert admitted == list(PEERS[:2])
