"""CONNECT through a live service with real clients: python-socks, curl, and the RFC test client."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from python_socks import ProxyError
from python_socks.sync import Proxy

from engine import SessionFlags
from tests.e2e.harness import PASSWORD, HttpServer, RunningService, ServiceFactory, free_port
from tests.e2e.socks_client import CONNECT, TIMEOUT, SocksClient, read_exact

pytestmark = pytest.mark.timeout(60)


def http_get(proxy_url: str, server: HttpServer) -> bytes:
    """The body of ``server``'s file, fetched through the proxy with python-socks."""
    sock = Proxy.from_url(proxy_url).connect(server.host, server.port, timeout=TIMEOUT)
    with sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(f"GET {server.path} HTTP/1.0\r\nHost: {server.host}\r\n\r\n".encode())
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head[:40]
    return body


def test_python_socks_connect_without_authentication(
    service: RunningService, http_remote: HttpServer
) -> None:
    body = http_get(service.proxy_url, http_remote)
    assert hashlib.sha256(body).hexdigest() == http_remote.digest


def test_r105_python_socks_connect_with_username_and_password_gets_an_authenticated_session(
    start_service: ServiceFactory, http_remote: HttpServer
) -> None:
    """R105: a successful RFC 1929 login yields a session flagged authenticated."""
    running = start_service(authentication="password")
    host, port = running.address
    sock = Proxy.from_url(f"socks5://alice:{PASSWORD.replace(' ', '%20')}@{host}:{port}").connect(
        http_remote.host, http_remote.port, timeout=TIMEOUT
    )
    with sock:
        sessions = running.engine_call(lambda engine: engine.sessions())
        assert [(s.client, s.user) for s in sessions] == [("127.0.0.1", "alice")]
        assert SessionFlags.AUTHENTICATED in sessions[0].flags
    body = http_get(f"socks5://alice:{PASSWORD.replace(' ', '%20')}@{host}:{port}", http_remote)
    assert hashlib.sha256(body).hexdigest() == http_remote.digest


def test_a_password_service_refuses_a_client_without_credentials(
    start_service: ServiceFactory, http_remote: HttpServer
) -> None:
    running = start_service(authentication="password")
    with pytest.raises(ProxyError):
        Proxy.from_url(running.proxy_url).connect(
            http_remote.host, http_remote.port, timeout=TIMEOUT
        )
    with SocksClient(running.address) as client:
        assert client.greet(b"\x00") == 0xFF
        assert client.until_closed() == b""


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("option", ["--socks5", "--socks5-hostname"])
def test_curl_fetches_a_file_through_the_service(
    service: RunningService,
    http_remote: HttpServer,
    http_local: HttpServer,
    option: str,
    tmp_path: Path,
) -> None:
    """curl with local resolution (IPv4 in the request) and with the name sent to the proxy."""
    host, port = service.address
    url = (
        http_remote.url if option == "--socks5" else f"http://localhost:{http_local.port}/blob.bin"
    )
    output = tmp_path / "blob.bin"
    subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "--max-time", "20", "--noproxy", "",
         option, f"{host}:{port}", "--output", str(output), url],
        check=True,
        timeout=30,
    )  # fmt: skip
    assert hashlib.sha256(output.read_bytes()).hexdigest() == http_remote.digest


def test_a_connect_the_rules_do_not_allow_gets_reply_0x02(service: RunningService) -> None:
    unlisted = free_port("127.0.0.2")
    with SocksClient(service.address) as client:
        assert client.greet() == 0
        assert client.request(CONNECT, "127.0.0.2", unlisted).code == 0x02
        assert client.until_closed() == b""


def test_a_refused_connection_gets_reply_0x05(
    service: RunningService, http_remote: HttpServer
) -> None:
    """Allowed by the rules (the Web port) but nobody listens on 127.0.0.3 there."""
    with SocksClient(service.address) as client:
        client.greet()
        assert client.request(CONNECT, "127.0.0.3", http_remote.port).code == 0x05


def test_a_name_that_does_not_resolve_gets_reply_0x04(
    service: RunningService, http_remote: HttpServer
) -> None:
    with SocksClient(service.address) as client:
        client.greet()
        assert client.request(CONNECT, "no-such-host.invalid", http_remote.port).code == 0x04


def test_bytes_pipelined_after_the_request_reach_the_remote(
    service: RunningService, http_remote: HttpServer
) -> None:
    """Greeting, request and the HTTP request in one write: nothing the client sent is lost."""
    request = f"GET {http_remote.path} HTTP/1.0\r\n\r\n".encode()
    with SocksClient(service.address) as client:
        greeting = b"\x05\x01\x00"
        connect = b"\x05\x01\x00\x01" + bytes([127, 0, 0, 2]) + http_remote.port.to_bytes(2, "big")
        client.sock.sendall(greeting + connect + request)
        assert read_exact(client.sock, 2) == b"\x05\x00"
        assert client.read_reply().code == 0
        assert client.until_closed().startswith(b"HTTP/1.0 200")


def test_the_session_ends_when_the_identitys_last_connection_closes(
    service: RunningService, http_remote: HttpServer
) -> None:
    """§14.2: one session per (client IP, user), shared by its connections, ended by the last."""
    proxy = Proxy.from_url(service.proxy_url)
    first = proxy.connect(http_remote.host, http_remote.port, timeout=TIMEOUT)
    second = proxy.connect(http_remote.host, http_remote.port, timeout=TIMEOUT)
    sessions = service.engine_call(lambda engine: engine.sessions())
    assert len(sessions) == 1
    first.close()
    service.wait_for(lambda _: service.service.connections == 1, "the first connection is gone")
    assert service.engine_call(lambda engine: engine.sessions()) == sessions
    second.close()
    service.wait_for(lambda engine: not engine.sessions(), "the session has ended")
