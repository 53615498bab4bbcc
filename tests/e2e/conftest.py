"""End-to-end fixtures: an in-process fwx service on 127.0.0.1, local HTTP servers, rule files.

Remote peers are distinct loopback addresses (127.0.0.2, 127.0.0.3). Every
service is stopped after its test, and a test fails if the service logged an
error (the server's safety net caught a bug).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.socks.server import ServerOptions
from tests.e2e.harness import HttpServer, RunningService, ServiceFactory, rules_text, serve_http


@pytest.fixture(scope="session")
def blob(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 3 MiB file of random bytes (the directory it is in, and its SHA-256)."""
    folder = tmp_path_factory.mktemp("www")
    data = os.urandom(3 * 1024 * 1024)
    (folder / "blob.bin").write_bytes(data)
    return folder, hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def http_remote(blob: tuple[Path, str]) -> Iterator[HttpServer]:
    """The HTTP server on 127.0.0.2, the usual remote."""
    yield from serve_http("127.0.0.2", *blob)


@pytest.fixture(scope="session")
def http_local(blob: tuple[Path, str]) -> Iterator[HttpServer]:
    """The same file on 127.0.0.1, reachable by the name ``localhost``."""
    yield from serve_http("127.0.0.1", *blob)


@pytest.fixture
def start_service(
    tmp_path: Path, http_remote: HttpServer, http_local: HttpServer
) -> Iterator[ServiceFactory]:
    """Start services with rules from :func:`rules_text` (Web on both HTTP servers' ports)."""
    started: list[RunningService] = []

    def start(
        *, options: ServerOptions | None = None, tick_interval: float = 1.0, **rules: Any
    ) -> RunningService:
        path = tmp_path / f"rules-{len(started)}.toml"
        web_ports = (http_remote.port, http_local.port)
        path.write_text(rules_text(web_ports=web_ports, **rules), encoding="utf-8")
        options = options or ServerOptions(phase_timeout=2.0, connect_timeout=2.0)
        running = RunningService(path, options, tick_interval)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def service(start_service: ServiceFactory) -> RunningService:
    """A service with authentication "none" and the default rules."""
    return start_service()


@pytest.fixture(autouse=True)
def _no_service_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test whose service logged an error (a bug caught by the server's safety net)."""
    caplog.set_level(logging.WARNING, logger="fwx")
    yield
    errors = [
        r.getMessage()
        for phase in ("setup", "call")
        for r in caplog.get_records(phase)
        if r.name.startswith("fwx") and r.levelno >= logging.ERROR
    ]
    assert errors == []
