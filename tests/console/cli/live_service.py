"""A real `fwx serve` in a subprocess on loopback, and ways to run `fwx` commands against it.

The service listens on 127.0.0.71 with its own rule file, admin socket and
audit log in a short folder under /tmp (AF_UNIX paths are limited to 107
bytes). Commands run in-process with Typer's CliRunner (fast) or as the real
`fwx` script in a subprocess; both find the service through
``FWX_ADMIN_SOCKET`` and the audit log through ``FWX_AUDIT_DB``, as an
operator's shell would. SOCKS clients come from 127.0.0.72, remote peers
from 127.0.0.73.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from typer.testing import CliRunner, Result

from console.cli.main import app
from rules.passwords import hash_password
from tests.e2e.socks_client import BIND, UDP_ASSOCIATE, SocksClient

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[3]
FWX = Path(sys.executable).with_name("fwx")
"""The `fwx` console script installed next to this Python."""
HOST = "127.0.0.71"
CLIENT = "127.0.0.72"
REMOTE = "127.0.0.73"
USER = "alice"
PASSWORD = "correct horse"
FTP = "a5b2c3d4-0000-4000-8000-000000000021"
MEDIA = "a5b2c3d4-0000-4000-8000-000000005004"
TELNET = "7e1e7e1e-0000-4000-8000-000000000023"
WAIT = 15.0


def rules_text(extra: str = "") -> str:
    """Password logins (alice); FTP and Media allowed for loopback clients, Telnet never."""
    return f"""\
version = 1

[service]
listen = "{HOST}:0"
external = "{HOST}"
authentication = "password"
pending_bind_timeout = 600

[[protocol]]
name = "FTP"
guid = "{FTP}"
primary = {{ port = 21, transport = "tcp", direction = "outbound" }}
secondary = [{{ ports = "1024-65535", transport = "tcp", direction = "inbound" }}]

[[protocol]]
name = "Media"
guid = "{MEDIA}"
primary = {{ port = 5004, transport = "udp", direction = "send" }}
secondary = [{{ ports = "1024-65535", transport = "udp", direction = "receive" }}]

[[protocol]]
name = "Telnet"
guid = "{TELNET}"
primary = {{ port = 23, transport = "tcp", direction = "outbound" }}

[[ip_filter]]
name = "documentation networks"
include = ["192.0.2.0/24", "198.51.100.0/24"]

[[client_set]]
name = "loopback"
addresses = ["127.0.0.0/8"]

[[user]]
name = "{USER}"
password = "{_password_hash()}"

[[rule]]
name = "loopback may transfer files and media"
action = "allow"
protocols = ["FTP", "Media"]
users = ["any"]
clients = ["loopback"]
{extra}"""


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def wait_until(check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll ``check`` until it returns something other than None (or False); fail after a while."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def fwx_env(**extra: str) -> dict[str, str]:
    """The environment of an `fwx` subprocess: this checkout importable, wide tables."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **extra}


def run_fwx(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the real `fwx` script (after ``prefix``, e.g. setpriv) and wait for it."""
    return subprocess.run(
        [*prefix, str(FWX), *args],
        env=env if env is not None else fwx_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class LiveService:
    """A running `fwx serve` and the paths it uses."""

    folder: Path
    rules: Path
    socket: Path
    audit: Path
    process: subprocess.Popen[bytes]
    address: tuple[str, int] = ("", 0)

    @property
    def env(self) -> dict[str, str]:
        """What a shell that talks to this service sets."""
        return {"FWX_ADMIN_SOCKET": str(self.socket), "FWX_AUDIT_DB": str(self.audit)}

    def cli(self, *args: str) -> Result:
        """Run `fwx ARGS` in-process against this service (tables 200 columns wide)."""
        return CliRunner().invoke(app, list(args), env={**self.env, "COLUMNS": "200"})

    def json(self, *args: str) -> Any:
        """`fwx ARGS --json`, which must succeed, parsed."""
        result = self.cli(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real `fwx ARGS` script against this service."""
        return run_fwx(*args, env=fwx_env(**self.env))

    def bind(self, bind_id: int) -> dict[str, Any] | None:
        """The bind's JSON snapshot, or None when it is not live."""
        result = self.cli("binds", "show", str(bind_id), "--json")
        return json.loads(result.stdout) if result.exit_code == 0 else None

    def log_text(self) -> str:
        """What the service logged so far."""
        return (self.folder / "serve.log").read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(WAIT)


@contextlib.contextmanager
def live_service(extra_rules: str = "") -> Iterator[LiveService]:
    """Start `fwx serve` on 127.0.0.71 (any port); stop it and remove its folder afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="fwx-cli-", dir="/tmp"))
    rules = folder / "fwx.toml"
    rules.write_text(rules_text(extra_rules))
    socket_path = folder / "admin" / "admin.sock"
    audit = folder / "audit" / "audit.sqlite"
    command = [str(FWX), "serve", "--rules", str(rules), "--listen", f"{HOST}:0"]
    command += ["--socket", str(socket_path), "--audit", str(audit)]
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen(command, env=fwx_env(), stdout=log, stderr=log)
    service = LiveService(folder, rules, socket_path, audit, process)
    try:
        status = wait_until(lambda: _status(service), "fwx serve answers on its socket")
        host, _, port = status["listen"].rpartition(":")
        service.address = (host, int(port))
        yield service
    finally:
        service.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _status(service: LiveService) -> dict[str, Any] | None:
    if service.process.poll() is not None:
        raise AssertionError(f"fwx serve exited:\n{service.log_text()}")
    if not service.socket.exists():
        return None
    result = service.cli("status", "--json")
    return json.loads(result.stdout) if result.exit_code == 0 else None


def login(service: LiveService, source: str = CLIENT) -> SocksClient:
    """A SOCKS connection from ``source``, logged in as alice."""
    client = SocksClient(service.address, source=source)
    assert client.greet(b"\x02") == 2
    assert client.login(USER, PASSWORD) == 0
    return client


@contextlib.contextmanager
def tcp_bind(service: LiveService) -> Iterator[tuple[int, tuple[str, int]]]:
    """A real SOCKS BIND held open: (bind id, external address)."""
    with login(service) as client:
        reply = client.request(BIND, "0.0.0.0", 0)
        assert reply.code == 0
        yield _bind_id_at(service, "tcp", reply.port), reply.address


@contextlib.contextmanager
def udp_bind(service: LiveService) -> Iterator[int]:
    """A real SOCKS UDP ASSOCIATE held open: the id of its UDP bind."""
    before = {bind["id"] for bind in service.json("binds", "list")}
    with login(service) as client:
        reply = client.request(UDP_ASSOCIATE, "0.0.0.0", 0)
        assert reply.code == 0

        def new_udp_bind() -> int | None:
            binds = service.json("binds", "list")
            fresh = [b["id"] for b in binds if b["transport"] == "udp" and b["id"] not in before]
            return fresh[0] if fresh else None

        yield wait_until(new_udp_bind, "the UDP bind is listed")


def _bind_id_at(service: LiveService, transport: str, port: int) -> int:
    binds = service.json("binds", "list")
    [found] = [b["id"] for b in binds if b["transport"] == transport and b["port"] == port]
    return int(found)


def one_line(text: str) -> str:
    """``text`` holds exactly one line: return it."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]
