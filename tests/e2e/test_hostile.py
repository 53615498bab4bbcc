"""Hostile and broken clients: every one ends with a reply or a close, and the next is served.

Hypothesis writes byte streams into a live server (in several writes, then
end-of-stream); each connection must end promptly with nothing but SOCKS5
answers, and a normal python-socks client must be served right after.
"""

from __future__ import annotations

import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.socks.server import ServerOptions
from tests.e2e.harness import PASSWORD, HttpServer, RunningService, ServiceFactory
from tests.e2e.socks_client import BIND, TIMEOUT, SocksClient
from tests.e2e.test_connect import http_get

pytestmark = pytest.mark.timeout(120)

PREFIXES = [
    b"",
    b"\x05\x01\x00",
    b"\x05\x02\x00\x02",
    b"\x05\x01\x02\x01\x05alice\x03bad",
    b"\x05\x01\x00\x05\x01\x00",
    b"\x05\x01\x00\x05\x02\x00\x01",
    b"\x05\x01\x00\x05\x03\x00\x03",
]


def send_and_collect(address: tuple[str, int], chunks: list[bytes]) -> bytes:
    """Write ``chunks``, end the stream, and read until the server closes (bounded)."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # the server closed first (reset, broken pipe, not connected)
        received = b""
        try:
            while data := sock.recv(4096):
                received += data
        except ConnectionResetError:
            pass
        return received


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prefix=st.sampled_from(PREFIXES),
    chunks=st.lists(st.binary(min_size=1, max_size=80), max_size=6),
)
def test_any_byte_stream_ends_in_a_reply_or_a_close_and_the_next_client_is_served(
    service: RunningService, http_remote: HttpServer, prefix: bytes, chunks: list[bytes]
) -> None:
    received = send_and_collect(service.address, [prefix, *chunks] if prefix else chunks)
    assert received[:1] in (b"", b"\x05")
    body = http_get(service.proxy_url, http_remote)
    assert len(body) == 3 * 1024 * 1024


@pytest.mark.parametrize(
    "partial",
    [b"", b"\x05", b"\x05\x02\x00", b"\x05\x01\x00\x05\x01", b"\x05\x01\x00\x05\x01\x00\x03\x09ab"],
    ids=["silent", "half-greeting", "half-methods", "half-request", "half-domain"],
)
def test_a_slow_handshake_is_cut_by_the_phase_time_out(
    start_service: ServiceFactory, partial: bytes
) -> None:
    running = start_service(options=ServerOptions(phase_timeout=0.2))
    with SocksClient(running.address) as client:
        client.sock.sendall(partial)
        answer = client.until_closed()
    assert answer in (b"", b"\x05\x00")
    running.wait_for(lambda engine: not engine.sessions(), "no session is left")


def test_r105_a_failed_login_closes_the_connection_and_creates_no_session(
    start_service: ServiceFactory,
) -> None:
    """R105: RFC 1929 failure: STATUS != 0, the connection closes, and no session exists."""
    running = start_service(authentication="password")
    for user, password in (("alice", "wrong"), ("mallory", PASSWORD)):
        with SocksClient(running.address) as client:
            assert client.greet(b"\x02") == 0x02
            assert client.login(user, password) != 0
            assert client.until_closed() == b""
    assert running.engine_call(lambda engine: engine.sessions()) == []
    with SocksClient(running.address) as client:
        assert client.greet(b"\x00\x02") == 0x02
        assert client.login("alice", PASSWORD) == 0
        assert client.request(BIND, "0.0.0.0", 0).code == 0
        sessions = running.engine_call(lambda engine: engine.sessions())
        assert [(s.client, s.user) for s in sessions] == [("127.0.0.1", "alice")]


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (b"\x05\x09\x00\x01\x7f\x00\x00\x01\x00\x50", 0x07),
        (b"\x05\x01\x00\x07\x7f\x00\x00\x01\x00\x50", 0x08),
        (b"\x05\x01\x01\x01\x7f\x00\x00\x01\x00\x50", 0x01),
    ],
    ids=["unknown-command", "unknown-address-type", "reserved-byte"],
)
def test_a_malformed_request_gets_its_reply_code_and_a_close(
    service: RunningService, request_bytes: bytes, code: int
) -> None:
    with SocksClient(service.address) as client:
        client.greet()
        client.sock.sendall(request_bytes)
        answer = client.until_closed()
    assert answer[:2] == bytes((5, code))


def test_the_connection_cap_closes_newcomers_and_serves_again_below_it(
    start_service: ServiceFactory, http_remote: HttpServer
) -> None:
    running = start_service(options=ServerOptions(max_connections=1, phase_timeout=5.0))
    with SocksClient(running.address) as first:
        first.greet()
        running.wait_for(lambda _: running.service.connections == 1, "one connection is served")
        with SocksClient(running.address) as second:
            assert second.until_closed() == b""
    running.wait_for(lambda _: running.service.connections == 0, "nobody is served")
    assert http_get(running.proxy_url, http_remote)
