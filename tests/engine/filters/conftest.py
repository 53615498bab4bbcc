"""Shared pieces of the filter tests: an engine with an FTP protocol, and filter sessions on it.

The rule set is built in code. ``SocketlessBinder`` stands for the data plane's
``BindForClient`` listener: it makes the same engine call with port 0 (the
engine picks the port), so the filter's decisions are tested without sockets.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint

import pytest

from engine.core import Endpoint, Engine, HResult, IpFilter, ManualClock, Session, Transport
from engine.filters import registry as registry_module
from engine.filters.base import FilterSession
from engine.filters.registry import ENTRY_POINT_GROUP, default_registry
from rules.model import (
    Action,
    Direction,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    ServiceConfig,
)

EXTERNAL = "198.51.100.1"
CLIENT = "10.0.0.5"
SERVER = "203.0.113.7"
STRANGER = "192.0.2.99"
FTP_GUID = uuid.UUID(int=21)
FTP = ProtocolDefinition(
    FTP_GUID, "FTP", PrimaryConnection(21, Transport.TCP, Direction.OUTBOUND), filter="ftp"
)
WEB = ProtocolDefinition(
    uuid.UUID(int=80), "Web", PrimaryConnection(80, Transport.TCP, Direction.OUTBOUND)
)
ALLOW_ALL = ProtocolRule("everyone", Action.ALLOW)


def ruleset(*rules: ProtocolRule) -> RuleSet:
    """FTP (filtered) and Web, with ``rules``."""
    return RuleSet(
        service=ServiceConfig(external=EXTERNAL), protocols=(FTP, WEB), rules=tuple(rules)
    )


@dataclass
class SocketlessBinder:
    """``BindForClient`` without a listener: the engine call alone, recorded."""

    engine: Engine
    calls: list[tuple[Endpoint, IpFilter | None, str]] = field(default_factory=list)
    host: str = EXTERNAL

    def bind_for_client(
        self,
        session: Session,
        client_address: Endpoint,
        protocol_guid: uuid.UUID,
        ip_filter: IpFilter | None,
        actor: str,
    ) -> tuple[HResult, Endpoint | None]:
        self.calls.append((client_address, ip_filter, actor))
        result, bind = self.engine.bind_for_client(
            session, Transport.TCP, [client_address], (self.host, 0), protocol_guid, 0, ip_filter,
            actor=actor,
        )  # fmt: skip
        return result, None if bind is None else bind.address


@dataclass
class Setup:
    """An engine, the client's session, and a filter session for its FTP control connection."""

    engine: Engine
    clock: ManualClock
    session: Session
    binder: SocketlessBinder
    filter_session: FilterSession


def make_setup(*rules: ProtocolRule, client: str = CLIENT, external: str = EXTERNAL) -> Setup:
    clock = ManualClock()
    engine = Engine(ruleset(*rules), clock=clock)
    session = engine.session(client)
    binder = SocketlessBinder(engine, host=external)
    filter_session = FilterSession(
        engine,
        session,
        protocol=FTP_GUID,
        client=(client, 40000),
        server=(SERVER, 21),
        external=external,
        actor="filter:ftp",
        binder=binder,
    )
    return Setup(engine, clock, session, binder, filter_session)


@pytest.fixture
def setup() -> Setup:
    """Everyone may use FTP."""
    return make_setup(ALLOW_ALL)


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Forget the discovered filters before and after the test (it changes entry points)."""
    default_registry.cache_clear()
    yield
    default_registry.cache_clear()


def install(monkeypatch: pytest.MonkeyPatch, **points: str) -> None:
    """Make ``entry_points`` declare ``name=value`` in the ``fwx.filters`` group."""
    declared = [EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in points.items()]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return declared if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry_module, "entry_points", entry_points)
