"""Fixtures of the control tests: a real service with its admin socket, for RemoteControl.

The service and its :class:`AdminServer` share one event loop in a thread,
as under ``fwx serve``; the remote control runs on the test's own loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.admin.server import AdminServer
from engine.socks.server import ServerOptions
from tests.e2e.harness import RunningService


@dataclass
class Served:
    """A running service and the admin server in front of it."""

    running: RunningService
    server: AdminServer
    stopped: bool = False

    @property
    def path(self) -> Path:
        return self.server.path

    def stop(self) -> None:
        """Stop the admin server, then the service (once)."""
        if self.stopped:
            return
        self.stopped = True
        try:
            self.running.run(self.server.stop())
        finally:
            self.running.stop()


@pytest.fixture
def serve(rules_path: Path, short_dir: Path) -> Iterator[Callable[[float], Served]]:
    """Start the service of ``rules_path`` with its admin socket; every one is stopped after."""
    started: list[Served] = []

    def start(tick_interval: float = 1.0) -> Served:
        options = ServerOptions(phase_timeout=2.0, connect_timeout=2.0)
        running = RunningService(rules_path, options, tick_interval)
        server = AdminServer(running.service.operations, short_dir / "fwx" / "admin.sock")
        served = Served(running, server)
        started.append(served)
        running.run(server.start())
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def served(serve: Callable[[float], Served]) -> Served:
    """A started service with its admin socket."""
    return serve(1.0)


@pytest.fixture
def idle_served(serve: Callable[[float], Served]) -> Served:
    """Like ``served``, but the service's periodic work (expiry, reaping) never runs."""
    return serve(3600.0)
