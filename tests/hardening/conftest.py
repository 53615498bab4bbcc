"""Fixtures of the hardening tests: a real service in its own process, an echo remote, fd limits.

``start_service(rules, options=..., audit=..., fd_limit=...)`` starts an fwx
service (:class:`engine.service.Service`) in a child process on 127.0.0.1,
with its admin socket and audit log in a private folder under /tmp (AF_UNIX
paths are short), and returns a :class:`~bench.loadlib.service.ServiceProcess`:
``address`` (SOCKS5), ``socket_path`` (admin socket: ``RemoteControl`` or
``FWX_ADMIN_SOCKET``), ``audit_path``, ``rules_path``, ``pid``, ``fds()``,
``rss_kib()``. The service runs in a process of its own so that its file
descriptors can be counted exactly (``/proc/PID/fd``) with no test socket
mixed in, and so that ``ServerOptions`` (limits, time-outs) and its
``RLIMIT_NOFILE`` can be set. Every service is stopped after its test, and
the test fails if the service logged an error. The load benchmark
(``bench/load.py``) runs the same service process.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.loadlib.echo import EchoProcess
from bench.loadlib.service import ServiceProcess, ServiceSpec, raise_fd_limit
from engine.socks.server import ServerOptions
from rules.passwords import hash_password

ECHO_GUID = uuid.UUID("a5b2c3d4-0000-4000-8000-00000000e141")
USER = "alice"
PASSWORD = "correct horse"

StartService = Callable[..., ServiceProcess]


def rules_text(*, echo_port: int | None = None, password: bool = False, extra: str = "") -> str:
    """A rule file: outbound TCP to ``echo_port`` allowed to everyone; alice's password if asked.

    Binds stay pending (no protocol approves them at bind time).
    """
    lines = [
        "version = 1",
        "[service]",
        'listen = "127.0.0.1:0"',
        'external = "127.0.0.1"',
        f'authentication = "{"password" if password else "none"}"',
        "pending_bind_timeout = 3600",
    ]
    if echo_port is not None:
        lines += [
            "[[protocol]]",
            'name = "Echo"',
            f'guid = "{ECHO_GUID}"',
            f'primary = {{ port = {echo_port}, transport = "tcp", direction = "outbound" }}',
            "[[rule]]",
            'name = "everyone may reach the echo server"',
            'action = "allow"',
            'protocols = ["Echo"]',
            'users = ["any"]',
            'clients = ["any"]',
        ]
    if password:
        lines += ["[[user]]", f'name = "{USER}"', f'password = "{hash_password(PASSWORD)}"']
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def fd_limit() -> Iterator[int]:
    """This process's soft RLIMIT_NOFILE raised to the hard limit for the test, then restored."""
    soft, hard = raise_fd_limit()
    try:
        yield hard
    finally:
        raise_fd_limit(soft)


@pytest.fixture
def echo() -> Iterator[EchoProcess]:
    """A TCP echo server on 127.0.0.2, in a process of its own."""
    with EchoProcess("127.0.0.2") as server:
        yield server


@pytest.fixture
def start_service() -> Iterator[StartService]:
    """Start services in child processes; each is stopped after the test, and must log no error.

    ``start_service(rules_text, *, options=ServerOptions(), audit=True, fd_limit=None)``.
    """
    started: list[tuple[ServiceProcess, Path]] = []

    def start(
        rules: str,
        *,
        options: ServerOptions | None = None,
        audit: bool = True,
        fd_limit: int | None = None,
    ) -> ServiceProcess:
        folder = Path(tempfile.mkdtemp(prefix="fwx-h-", dir="/tmp"))
        spec = ServiceSpec(rules, options or ServerOptions(), audit=audit, fd_limit=fd_limit)
        service = ServiceProcess(spec, folder)
        started.append((service, folder))
        return service.start()

    yield start
    errors = []
    for service, folder in started:
        try:
            errors += [line for line in service.stop() if line.startswith("error")]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    assert errors == [], "the service logged errors"
