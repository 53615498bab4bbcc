"""Fixtures of the admin socket tests: a real service with its admin socket in a short path.

The service runs on its own event loop in a thread (as ``fwx serve`` and the
console run it) and the :class:`AdminServer` runs on that same loop; tests
talk to the socket from the main thread with plain blocking sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.admin.server import AdminServer
from engine.socks.server import ServerOptions
from tests.e2e.harness import RunningService, rules_text


@dataclass
class Admin:
    """A running service and its started admin server."""

    running: RunningService
    server: AdminServer

    @property
    def path(self) -> Path:
        return self.server.path


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    """The end-to-end rules: FTP and Media for allows, and everyone may use everything."""
    path = tmp_path / "fwx.toml"
    path.write_text(rules_text(web_ports=()), encoding="utf-8")
    return path


def start_admin(rules_path: Path, socket_path: Path, tick_interval: float = 1.0) -> Admin:
    """Start a service and its admin server on ``socket_path``."""
    options = ServerOptions(phase_timeout=2.0, connect_timeout=2.0)
    running = RunningService(rules_path, options, tick_interval)
    server = AdminServer(running.service.operations, socket_path)
    try:
        running.run(server.start())
    except BaseException:
        running.stop()
        raise
    return Admin(running, server)


def stop_admin(admin: Admin) -> None:
    """Stop the admin server, then the service."""
    try:
        admin.running.run(admin.server.stop())
    finally:
        admin.running.stop()


@pytest.fixture
def admin(rules_path: Path, short_dir: Path) -> Iterator[Admin]:
    """A started service with its admin socket at ``<short_dir>/fwx/admin.sock``."""
    started = start_admin(rules_path, short_dir / "fwx" / "admin.sock")
    try:
        yield started
    finally:
        stop_admin(started)
