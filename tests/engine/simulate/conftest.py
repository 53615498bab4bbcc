"""A small rule set the simulate tests run against, and a helper to load trace text."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.simulate import Trace, loads_trace
from rules.loader import loads as loads_rules
from rules.model import RuleSet

RULES_TEXT = """\
version = 1

[service]
external = "198.51.100.1"
pending_bind_timeout = 120
udp_peer_timeout = 60

[[protocol]]
name = "FTP"
guid = "a5b2c3d4-0000-4000-8000-000000000021"
primary = { port = 21, transport = "tcp", direction = "outbound" }
secondary = [{ ports = "1024-65535", transport = "tcp", direction = "inbound" }]
filter = "ftp"

[[protocol]]
name = "DNS"
guid = "a5b2c3d4-0000-4000-8000-000000000053"
primary = { port = 53, transport = "udp", direction = "send-receive" }

[[protocol]]
name = "Game host"
guid = "a5b2c3d4-0000-4000-8000-000000007777"
primary = { port = 7777, transport = "tcp", direction = "inbound" }

[[protocol]]
name = "Telnet"
guid = "a5b2c3d4-0000-4000-8000-000000000023"
primary = { port = 23, transport = "tcp", direction = "outbound" }

[[ip_filter]]
name = "servers"
include = ["192.0.2.0/24"]
exclude = ["192.0.2.99"]

[[user]]
name = "alice"
groups = ["staff"]

[[rule]]
name = "staff protocols"
action = "allow"
protocols = ["FTP", "DNS", "Game host"]
users = ["@staff"]

[[rule]]
name = "anyone may use DNS"
action = "allow"
protocols = ["DNS"]
"""


@pytest.fixture
def rules_text() -> str:
    """The text of the rule file the tests run against."""
    return RULES_TEXT


@pytest.fixture
def ruleset() -> RuleSet:
    """The rules above: FTP, DNS and Game host for staff; DNS for anyone; Telnet for nobody."""
    return loads_rules(RULES_TEXT, "rules.toml")


@pytest.fixture
def load(ruleset: RuleSet, tmp_path: Path) -> Callable[..., Trace]:
    """Load dedented trace text as ``trace.toml`` in ``tmp_path`` (for relative rule files)."""

    def loader(text: str, rules: RuleSet | None = None) -> Trace:
        return loads_trace(
            textwrap.dedent(text),
            rules if rules is not None else ruleset,
            path="trace.toml",
            base=tmp_path,
        )

    return loader
