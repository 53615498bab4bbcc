"""Primary connections through their filter: which filter applies, the filtered relay on real
sockets, and a filter that raises (contained: its connection closes, the service goes on)."""

from __future__ import annotations

import asyncio
import logging
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from python_socks.sync import Proxy

from engine.core import Engine, FutureFlags, Transport
from engine.filters.ftp import FtpFilter
from engine.filters.stream import Attachment, MissingFilter, attachment_for, run_filtered
from engine.socks.server import ServerOptions, SocksServer
from rules.model import (
    Action,
    Direction,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    ServiceConfig,
)
from tests.e2e.harness import WAIT, RunningService
from tests.engine.filters.conftest import ALLOW_ALL, FTP, FTP_GUID, SERVER, install, ruleset
from tests.engine.filters.sample_filters import Shout

pytestmark = pytest.mark.timeout(30)

SAMPLES = "tests.engine.filters.sample_filters"


def test_a_connection_the_rules_accept_gets_its_protocols_filter() -> None:
    engine = Engine(ruleset(ALLOW_ALL))
    session = engine.session("10.0.0.5")
    verdict = engine.connect(session, (SERVER, 21))
    assert attachment_for(verdict) == Attachment(FtpFilter, FTP)


def test_the_filter_is_that_of_the_protocol_whose_rule_decided() -> None:
    primary = PrimaryConnection(21, Transport.TCP, Direction.OUTBOUND)
    plain = ProtocolDefinition(uuid.UUID(int=21), "FTP unfiltered", primary)
    only_ftp = ProtocolRule("FTP only", Action.ALLOW, protocols=("FTP",))
    rules = RuleSet(ServiceConfig(), (plain, FTP), rules=(only_ftp,))
    engine = Engine(rules)
    verdict = engine.connect(engine.session("10.0.0.5"), (SERVER, 21))
    assert verdict.protocol == FTP
    assert attachment_for(verdict) == Attachment(FtpFilter, FTP)


def test_a_protocol_without_a_filter_gets_the_plain_relay() -> None:
    engine = Engine(ruleset(ALLOW_ALL))
    verdict = engine.connect(engine.session("10.0.0.5"), (SERVER, 80))
    assert attachment_for(verdict) is None


def test_a_secondary_connection_allowed_by_a_permission_is_never_filtered() -> None:
    engine = Engine(ruleset(ALLOW_ALL))
    session = engine.session("10.0.0.5")
    engine.allow_future_connect(
        session, (SERVER, 21), Transport.TCP, FTP_GUID, FutureFlags.TIMEOUT, actor="test"
    )
    verdict = engine.connect(session, (SERVER, 21))
    assert verdict.reason == "future-connect"
    assert attachment_for(verdict) is None


def test_r71_a_protocol_whose_filter_is_missing_is_refused() -> None:
    rules = ruleset(ALLOW_ALL)
    rules = RuleSet(rules.service, (replace(FTP, filter="nosuch"),), rules=rules.rules)
    engine = Engine(rules)
    verdict = engine.connect(engine.session("10.0.0.5"), (SERVER, 21))
    with pytest.raises(MissingFilter, match="protocol 'FTP': unknown filter 'nosuch'"):
        attachment_for(verdict)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected loopback TCP sockets."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        near = socket.create_connection(listener.getsockname())
        far, _ = listener.accept()
    return near, far


def test_the_filtered_relay_rewrites_answers_and_passes_the_end_of_stream_on() -> None:
    """Segments cut anywhere; rewritten lines reach the server, answers the client; half-close."""
    engine = Engine(ruleset(ALLOW_ALL))
    session = engine.session("127.0.0.1")
    client, client_side = tcp_pair()
    server_side, server = tcp_pair()
    for sock in (client, server):
        sock.settimeout(WAIT)

    async def main() -> None:
        for sock in (client_side, server_side):
            sock.setblocking(False)
        attachment = Attachment(Shout, FTP)
        tracker = SocksServer(engine, external="127.0.0.1", options=ServerOptions())
        await run_filtered(
            engine, session, attachment, client_side, server_side, "127.0.0.1", b"he", tracker
        )

    relay = threading.Thread(target=asyncio.run, args=(main(),))
    relay.start()
    try:
        for part in (b"llo\nPI", b"NG\nwor", b"ld\n"):
            client.sendall(part)
        assert client.recv(100) == b"PONG\r\n"
        received = b""
        while len(received) < len(b"HELLO\nWORLD\n"):
            received += server.recv(100)
        assert received == b"HELLO\nWORLD\n"
        server.sendall(b"as it comes\n")
        assert client.recv(100) == b"as it comes\n"
        client.sendall(b"tail without a newline")
        client.shutdown(socket.SHUT_WR)
        assert server.recv(100) == b"tail without a newline"
        assert server.recv(100) == b""
        server.close()
        assert client.recv(100) == b""
    finally:
        relay.join(WAIT)
        for sock in (client, server, client_side, server_side):
            sock.close()


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A TCP echo server on 127.0.0.2."""
    server = socketserver.ThreadingTCPServer(("127.0.0.2", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[0], server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


@pytest.fixture
def service_with_broken_filter(
    tmp_path: Path,
    echo: tuple[str, int],
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
) -> Iterator[RunningService]:
    """A service where one protocol (on the echo port) runs the deliberately broken filter."""
    install(monkeypatch, broken=f"{SAMPLES}:Broken")
    path = tmp_path / "rules.toml"
    path.write_text(
        "\n".join([
            "version = 1",
            "[service]",
            'listen = "127.0.0.1:0"',
            "[[protocol]]",
            'name = "Echo"',
            f'guid = "{uuid.uuid4()}"',
            f'primary = {{ port = {echo[1]}, transport = "tcp", direction = "outbound" }}',
            'filter = "broken"',
            "[[rule]]",
            'name = "all"',
            'action = "allow"',
            'protocols = ["any"]',
        ]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    running = RunningService(path, ServerOptions(phase_timeout=2.0, connect_timeout=2.0), 1.0)
    try:
        yield running
    finally:
        running.stop()


def test_a_filter_that_raises_closes_its_connection_with_a_log_line_and_the_service_goes_on(
    service_with_broken_filter: RunningService,
    echo: tuple[str, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="fwx.filters")
    proxy = Proxy.from_url(service_with_broken_filter.proxy_url)
    for _ in range(2):
        with proxy.connect(*echo, timeout=WAIT) as sock:
            sock.settimeout(WAIT)
            sock.sendall(b"hello")
            assert sock.recv(100) == b""
    failures = [r.getMessage() for r in caplog.records if r.name == "fwx.filters"]
    assert len(failures) == 2
    assert "filter 'broken' failed on a connection of 127.0.0.1" in failures[0]
    assert "deliberately broken filter" in failures[0]
    service_with_broken_filter.wait_for(
        lambda _: service_with_broken_filter.service.connections == 0, "the connections closed"
    )
