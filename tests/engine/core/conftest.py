"""Shared rules and fixtures for the engine core tests.

The rule set is built in code from the model, so these tests depend on the
rules package's data types and policy only (not on the TOML loader).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from engine.core.binds import Bind, Endpoint
from engine.core.clock import ManualClock
from engine.core.engine import Engine
from engine.core.results import HResult, Transport
from engine.core.sessions import Session
from rules.model import (
    Action,
    ClientSet,
    Direction,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    SecondaryConnection,
    ServiceConfig,
    User,
)

EXTERNAL = "198.51.100.1"
LAN_CLIENT = "10.0.0.5"
WAN_CLIENT = "192.0.2.50"
REMOTE: Endpoint = ("203.0.113.7", 5555)
STRANGER: Endpoint = ("192.0.2.99", 6000)
TCP = Transport.TCP
UDP = Transport.UDP


def guid(number: int) -> uuid.UUID:
    """A readable GUID for test protocols."""
    return uuid.UUID(int=number)


def protocol(
    number: int, name: str, port: int, transport: Transport, direction: Direction
) -> ProtocolDefinition:
    """A protocol definition with one primary connection."""
    return ProtocolDefinition(guid(number), name, PrimaryConnection(port, transport, direction))


FTP = replace(
    protocol(21, "FTP", 21, TCP, Direction.OUTBOUND),
    secondary=(SecondaryConnection(1024, 65535, TCP, Direction.INBOUND),),
    filter="ftp",
)
HTTP = protocol(80, "HTTP", 80, TCP, Direction.OUTBOUND)
DNS = protocol(53, "DNS", 53, UDP, Direction.SEND_RECEIVE)
NTP = protocol(123, "NTP", 123, UDP, Direction.SEND)
SYSLOG = protocol(514, "Syslog", 514, UDP, Direction.RECEIVE)
MEDIA = protocol(5004, "Media", 5004, UDP, Direction.RECEIVE_SEND)
GAME = protocol(7777, "Game server", 7777, TCP, Direction.INBOUND)
ADMIN = protocol(8443, "Admin", 8443, TCP, Direction.INBOUND)
FILTER_ONLY = protocol(9000, "Filter protocol", 9000, TCP, Direction.OUTBOUND)
"""Not in the rule file: tests register it at run time."""

RULES = RuleSet(
    service=ServiceConfig(external=EXTERNAL, bind_ports=(40000, 40009)),
    protocols=(FTP, HTTP, DNS, NTP, SYSLOG, MEDIA, GAME, ADMIN),
    client_sets=(ClientSet("lan", ("10.0.0.0/8",)),),
    users=(User("alice", ("staff",)), User("bob")),
    rules=(
        ProtocolRule(
            "lan may use everything but Admin",
            Action.ALLOW,
            protocols=("Admin",),
            except_protocols=True,
            clients=("lan",),
        ),
        ProtocolRule("no games for bob", Action.DENY, protocols=("Game server",), users=("bob",)),
        ProtocolRule("staff administer", Action.ALLOW, protocols=("Admin",), users=("@staff",)),
    ),
)


def ruleset(**service: Any) -> RuleSet:
    """:data:`RULES` with some ``[service]`` settings changed."""
    return replace(RULES, service=replace(RULES.service, **service))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(clock: ManualClock) -> Engine:
    return Engine(RULES, clock=clock)


@pytest.fixture
def lan(engine: Engine) -> Session:
    """An anonymous session from the LAN: every protocol but Admin is allowed to it."""
    return engine.session(LAN_CLIENT)


@pytest.fixture
def wan(engine: Engine) -> Session:
    """An anonymous session from outside the LAN: no rule allows it anything."""
    return engine.session(WAN_CLIENT)


def make_bind(
    engine: Engine, session: Session, transport: Transport = TCP, port: int = 40000
) -> Bind:
    """A bind that must succeed, on the external address."""
    result, bind = engine.bind(session, transport, (EXTERNAL, port))
    assert result is HResult.S_OK
    assert bind is not None
    return bind


def allow(engine: Engine, session: Session, bind: Bind, **changes: Any) -> HResult:
    """``retroactive_allow_bind`` for ``bind`` with FTP, no flags and no filter unless changed."""
    arguments: dict[str, Any] = {
        "protocol": int(bind.transport),
        "address": bind.address,
        "address_length": None,
        "protocol_guid": FTP.guid,
        "flags": 0,
        "ip_filter": None,
    }
    arguments.update(changes)
    return engine.retroactive_allow_bind(session, **arguments)
