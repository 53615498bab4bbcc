"""The Service wiring: security defaults, reload, the clock, terminate and a clean stop."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from python_socks.sync import Proxy

from engine import BindState, HResult
from engine.service import Service, ServiceError, parse_endpoint
from rules.errors import RuleFileError
from tests.e2e.harness import HttpServer, RunningService, ServiceFactory, rules_text
from tests.e2e.socks_client import BIND, TIMEOUT, SocksClient

pytestmark = pytest.mark.timeout(60)


def write_rules(tmp_path: Path, **options: Any) -> Path:
    path = tmp_path / "fwx.toml"
    path.write_text(rules_text(web_ports=(8080,), **options), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("127.0.0.1:1080", ("127.0.0.1", 1080)),
        ("localhost:0", ("127.0.0.1", 0)),
        ("[::1]:1080", ("::1", 1080)),
        (" 10.0.0.1:65535 ", ("10.0.0.1", 65535)),
    ],
)
def test_parse_endpoint_reads_host_and_port(text: str, endpoint: tuple[str, int]) -> None:
    assert parse_endpoint(text) == endpoint


@pytest.mark.parametrize(
    "text", ["1080", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "::1:1080", "example:1"]
)
def test_parse_endpoint_refuses_anything_else_in_one_line(text: str) -> None:
    with pytest.raises(ValueError, match=r"^[^\n]+$"):
        parse_endpoint(text)


def test_a_non_loopback_listener_needs_password_authentication(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match='authentication = "password"'):
        Service(write_rules(tmp_path), listen="0.0.0.0:1080")
    Service(write_rules(tmp_path, authentication="password"), listen="0.0.0.0:1080")


def test_a_bad_external_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="not an IP address"):
        Service(write_rules(tmp_path), external="gateway")


def test_reload_applies_a_good_file_and_keeps_the_rules_on_a_bad_one(tmp_path: Path) -> None:
    path = write_rules(tmp_path)
    service = Service(path, listen="127.0.0.1:0")
    before = service.engine.rules
    path.write_text(rules_text(web_ports=(8080, 8443)), encoding="utf-8")
    change = service.reload()
    assert change.protocols_added == ["Web 1"]
    assert service.engine.rules != before
    current = service.engine.rules
    path.write_text("version = 1\n[service]\nlisten = 12\n", encoding="utf-8")
    with pytest.raises(RuleFileError):
        service.reload()
    assert service.engine.rules is current


def test_reload_refuses_to_drop_passwords_on_a_public_listener(tmp_path: Path) -> None:
    path = write_rules(tmp_path, authentication="password")
    service = Service(path, listen="0.0.0.0:1080")
    current = service.engine.rules
    path.write_text(rules_text(web_ports=(8080,)), encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"refusing to listen on 0\.0\.0\.0"):
        service.reload()
    assert service.engine.rules is current


def test_a_pending_bind_that_times_out_gets_second_reply_0x01(
    start_service: ServiceFactory,
) -> None:
    """The pending time-out never approves: the bind expires and the client is told (§14.2)."""
    running = start_service(pending_bind_timeout=0.2, tick_interval=0.05)
    with SocksClient(running.address) as client:
        client.greet()
        first = client.request(BIND, "0.0.0.0", 0)
        assert first.code == 0
        assert client.read_reply().code == 0x01
        assert client.until_closed() == b""
    assert running.engine_call(lambda engine: engine.binds()) == []


def test_stop_closes_every_bind_relay_and_session(
    start_service: ServiceFactory, http_remote: HttpServer
) -> None:
    running = start_service()
    relayed = Proxy.from_url(running.proxy_url).connect(
        http_remote.host, http_remote.port, timeout=TIMEOUT
    )
    binder = SocksClient(running.address)
    binder.greet()
    first = binder.request(BIND, "0.0.0.0", 0)
    bind = running.bind_at(first.address)
    engine = running.service.engine
    running.stop()
    assert relayed.recv(10) == b""
    assert binder.read_reply().code == 0x01
    assert bind.state is BindState.CLOSED
    assert engine.binds() == []
    assert engine.sessions() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(first.address, timeout=TIMEOUT)
    relayed.close()
    binder.close()


def test_terminate_of_an_unknown_bind_is_not_found(service: RunningService) -> None:
    assert service.run(service.service.terminate(12345)) is HResult.NOT_FOUND
