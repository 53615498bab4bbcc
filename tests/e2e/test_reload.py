"""Hot reload under live traffic: no connection dropped, approvals kept, bad files refused (R85)."""

from __future__ import annotations

import hashlib

import pytest
from python_socks.sync import Proxy

from engine import BindState, HResult, IpFilter
from tests.e2e.harness import HttpServer, RunningService
from tests.e2e.socks_client import TIMEOUT, SocksClient, read_exact
from tests.e2e.test_bind import allow, knock, open_bind

pytestmark = pytest.mark.timeout(60)

EXTRA_RULE = """
[[rule]]
name = "reloaded {n}"
action = "deny"
protocols = ["Media"]
users = ["any"]
clients = ["any"]
"""
BROKEN = '\n[[rule]]\nname = "broken"\naction = "perhaps"\n'


def test_r85_reloads_during_a_transfer_drop_nothing_and_keep_approvals(
    service: RunningService, http_remote: HttpServer
) -> None:
    """R85: 20 reloads, valid and invalid, while a download runs and an allowed bind waits."""
    rules_path = service.service.rules_path
    original = rules_path.read_text()
    reload_ = service.service.operations.reload
    with SocksClient(service.address) as client:
        bind = open_bind(service, client)
        assert allow(service, bind, IpFilter.from_specs(["127.0.0.2"])) is HResult.S_OK
        proxy = Proxy.from_url(service.proxy_url)
        sock = proxy.connect(http_remote.host, http_remote.port, timeout=TIMEOUT)
        with sock:
            sock.settimeout(TIMEOUT)
            sock.sendall(f"GET {http_remote.path} HTTP/1.0\r\n\r\n".encode())
            response = bytearray(sock.recv(16384))
            outcomes = []
            for n in range(20):
                valid = n % 2 == 0
                rules_path.write_text(original + (EXTRA_RULE.format(n=n) if valid else BROKEN))
                outcomes.append(service.run(reload_(actor="test")).result)
                response += sock.recv(16384)
            while chunk := sock.recv(65536):
                response += chunk
        assert outcomes == [HResult.S_OK, HResult.E_INVALIDARG] * 10
        body = bytes(response).partition(b"\r\n\r\n")[2]
        assert hashlib.sha256(body).hexdigest() == http_remote.digest
        assert service.engine_call(lambda _: bind.state) is BindState.ALLOWED
        with knock(bind.address, "127.0.0.2") as peer:
            assert client.read_reply().code == 0
            peer.sendall(b"still open")
            assert read_exact(client.sock, 10) == b"still open"
    assert [rule.name for rule in service.engine_call(lambda e: e.rules.rules)][-1] == "reloaded 18"
