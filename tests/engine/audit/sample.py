"""What the audit tests share: a small rule file, an engine on it, and an audit log on a file.

Importable by the tests and by ``child.py`` (run in a subprocess), which is
why it is a module and not a conftest.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from engine.audit import AuditLog, AuditOptions, AuditReader, AuditRecord
from engine.core import Bind, Engine, HResult, Session, Transport
from rules.loader import loads

ROOT = Path(__file__).resolve().parents[3]
"""The repository, where ``child.py`` runs from."""
EXTERNAL = "198.51.100.1"
REMOTE = ("203.0.113.7", 5555)
WALL_START = 1_700_000_000.0
"""The manual wall clock's start in the tests (Unix seconds)."""
FTP_GUID = uuid.UUID("a5b2c3d4-0000-4000-8000-000000000021")
RULES_TEXT = """\
version = 1

[service]
external = "198.51.100.1"
bind_ports = "40000-40099"

[[protocol]]
name = "FTP"
guid = "a5b2c3d4-0000-4000-8000-000000000021"
primary = { port = 21, transport = "tcp", direction = "outbound" }
secondary = [{ ports = "1024-65535", transport = "tcp", direction = "inbound" }]

[[protocol]]
name = "Web"
guid = "a5b2c3d4-0000-4000-8000-000000000080"
primary = { port = 80, transport = "tcp", direction = "outbound" }

[[user]]
name = "alice"

[[user]]
name = "bob"

[[rule]]
name = "alice transfers and browses"
action = "allow"
protocols = ["FTP", "Web"]
users = ["alice"]
"""

T = TypeVar("T")


def build_engine(clock: Callable[[], float]) -> Engine:
    """An engine enforcing :data:`RULES_TEXT` on ``clock``."""
    return Engine(loads(RULES_TEXT, "rules.toml"), clock=clock)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh event loop, failing instead of hanging."""
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def audit_log(
    engine: Engine,
    path: Path,
    clock: Callable[[], float],
    wall: Callable[[], float],
    **options: Any,
) -> AuditLog:
    """An audit log of ``engine`` on ``path``; batches only on ``record``/``stop`` by default."""
    settings: dict[str, Any] = {"flush_interval": 3600.0, **options}
    return AuditLog(engine, AuditOptions(path, **settings), clock=clock, wall_clock=wall)


def pending_bind(engine: Engine, session: Session, port: int) -> Bind:
    """A bind of ``session`` on the external address that must succeed (and is pending)."""
    result, bind = engine.bind(session, Transport.TCP, (EXTERNAL, port))
    assert result is HResult.S_OK
    assert bind is not None
    return bind


def allow(engine: Engine, session: Session, bind: Bind, actor: str) -> HResult:
    """``retroactive_allow_bind`` for ``bind`` as FTP, on behalf of ``actor``."""
    return engine.retroactive_allow_bind(
        session, int(Transport.TCP), bind.address, None, FTP_GUID, 0, None, actor=actor
    )


def read(path: Path, **filters: Any) -> list[AuditRecord]:
    """The rows of the audit log at ``path`` matching ``filters``, through a reader."""
    with AuditReader(path) as reader:
        return reader.query(**filters)


def kinds(records: list[AuditRecord]) -> list[str]:
    """The kind of each record, in order."""
    return [record.kind for record in records]


def child(*arguments: str) -> subprocess.Popen[str]:
    """``child.py`` with ``arguments``, from the repository root, stdout piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.engine.audit.child", *arguments],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
