"""Fixtures of the console tests: a rule file and a real embedded service on loopback."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.control.local import LocalControl
from engine.service import Service
from rules.loader import loads
from rules.model import Direction, PrimaryConnection, ProtocolDefinition, RuleSet, Transport
from rules.saver import save
from rules.starter import STARTER_TEXT

TELNET = ProtocolDefinition(
    uuid.UUID("7e1e7e1e-0000-4000-8000-000000000023"),
    "Telnet",
    PrimaryConnection(23, Transport.TCP, Direction.OUTBOUND),
    description="no rule allows it: allowing a bind for it is FWX_E_PROTOCOL_RULES_DENIED",
)


def rules_for_tests() -> RuleSet:
    """The starter rules (FTP allowed for the lan) plus Telnet, which no rule allows."""
    base = loads(STARTER_TEXT)
    return dataclasses.replace(base, protocols=(*base.protocols, TELNET))


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    """A rule file holding :func:`rules_for_tests`."""
    path = tmp_path / "fwx.toml"
    save(rules_for_tests(), path)
    return path


@pytest.fixture
def control(rules_path: Path) -> Iterator[LocalControl]:
    """A started in-process control over a real service listening on 127.0.0.1 (any port)."""
    service = Service(rules_path, listen="127.0.0.1:0")
    local = LocalControl(service, actor="operator:test")
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def idle_control(rules_path: Path) -> Iterator[LocalControl]:
    """Like ``control``, but the service's periodic work (expiry, reaping) never runs.

    A bind the engine starts terminating then stays TERMINATING until closed,
    so tests can see that state (R23) without racing the service's clock.
    """
    service = Service(rules_path, listen="127.0.0.1:0", tick_interval=3600)
    local = LocalControl(service, actor="operator:test")
    local.start()
    try:
        yield local
    finally:
        local.stop()
