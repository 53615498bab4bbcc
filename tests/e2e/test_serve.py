"""`fwx serve` as a subprocess: it starts, serves, reloads on SIGHUP and stops on SIGTERM."""

from __future__ import annotations

import hashlib
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import WAIT, HttpServer, rules_text
from tests.e2e.socks_client import CONNECT, SocksClient
from tests.e2e.test_connect import http_get

pytestmark = pytest.mark.timeout(60)

FWX = [sys.executable, "-c", "from console.cli.main import run; run()"]
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+) ")


class Serving:
    """A running ``fwx serve`` and its standard-error lines, read by a thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*FWX, "serve", *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str) -> re.Match[str]:
        """The first new line matching ``pattern``; fails after a few seconds without one."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; saw {self.seen}") from None
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found


@pytest.fixture
def rules_file(tmp_path: Path, http_remote: HttpServer) -> Path:
    path = tmp_path / "fwx.toml"
    path.write_text(rules_text(web_ports=(http_remote.port,)), encoding="utf-8")
    return path


@pytest.fixture
def serving(rules_file: Path) -> Iterator[Serving]:
    running = Serving("--rules", str(rules_file), "--listen", "127.0.0.1:0")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
        running.process.wait(WAIT)


def test_fwx_serve_serves_a_connect_reloads_and_stops_cleanly_on_sigterm(
    serving: Serving, rules_file: Path, http_remote: HttpServer
) -> None:
    port = int(serving.expect(LISTENING.pattern).group(1))
    body = http_get(f"socks5://127.0.0.1:{port}", http_remote)
    assert hashlib.sha256(body).hexdigest() == http_remote.digest
    with SocksClient(("127.0.0.1", port)) as client:
        client.greet()
        assert client.request(CONNECT, "127.0.0.2", 9).code == 0x02
    serving.expect(r"connect session=\d+ destination=127\.0\.0\.2:9 verdict=discard reason=rules")

    rules_file.write_text(rules_text(web_ports=(http_remote.port, 8443)), encoding="utf-8")
    serving.process.send_signal(signal.SIGHUP)
    serving.expect(r"rules-replaced .*1 protocol added")

    rules_file.write_text("version = 2\n", encoding="utf-8")
    serving.process.send_signal(signal.SIGHUP)
    serving.expect(r"warning: reload refused: .*fwx\.toml:1:1: version: unsupported version 2")
    serving.expect(r"warning: operator-reload actor=signal:SIGHUP result=E_INVALIDARG")

    serving.process.send_signal(signal.SIGTERM)
    serving.expect(r" stopped$")
    assert serving.process.wait(WAIT) == 0
    assert not any("Traceback" in line for line in serving.seen)


def run_fwx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FWX, "serve", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_fwx_serve_refuses_a_non_loopback_listener_without_passwords(rules_file: Path) -> None:
    result = run_fwx("--rules", str(rules_file), "--listen", "0.0.0.0:0")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "fwx: refusing to listen on 0.0.0.0, which is not a loopback address, without "
        'authentication = "password" in [service]'
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--listen", "127.0.0.1"], 2, "is not HOST:PORT"),
        (["--external", "gateway"], 2, "is not an IP address"),
    ],
)
def test_fwx_serve_reports_bad_options_in_one_line(
    rules_file: Path, args: list[str], code: int, message: str
) -> None:
    result = run_fwx("--rules", str(rules_file), *args)
    assert result.returncode == code
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


def test_fwx_serve_lists_every_problem_of_a_bad_rule_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("version = 1\n[service]\nlisten = 12\nexternal = 3\n", encoding="utf-8")
    result = run_fwx("--rules", str(path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == f"fwx: {path}: 2 problems"
    assert all(line.startswith(f"{path}:") for line in lines[:-1])


def test_fwx_serve_exits_3_when_the_address_is_taken(rules_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_fwx("--rules", str(rules_file), "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 3
    [line] = result.stderr.splitlines()
    assert line.endswith(f" error: cannot listen on 127.0.0.1:{port}: Address already in use")


def test_fwx_serve_exits_3_when_the_rule_file_cannot_be_read(tmp_path: Path) -> None:
    result = run_fwx("--rules", str(tmp_path / "missing.toml"))
    assert result.returncode == 3
    assert len(result.stderr.splitlines()) == 1


def test_limits_from_the_command_line_cap_connections_and_handshakes(rules_file: Path) -> None:
    """--max-connections closes the extra arrival at once; --handshake-timeout cuts a silent one."""
    running = Serving(
        "--rules",
        str(rules_file),
        "--listen",
        "127.0.0.1:0",
        "--max-connections",
        "2",
        "--handshake-timeout",
        "0.5",
    )
    try:
        port = int(running.expect(LISTENING.pattern).group(1))
        with SocksClient(("127.0.0.1", port)) as first, SocksClient(("127.0.0.1", port)) as second:
            assert first.greet() == 0
            assert second.greet() == 0
            with SocksClient(("127.0.0.1", port)) as third:
                assert third.until_closed() == b""
            assert first.until_closed() == b""  # no request within 0.5 s: cut
    finally:
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(WAIT) == 0
