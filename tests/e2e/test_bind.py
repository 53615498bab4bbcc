"""BIND end to end: pending binds discard; an allow lets the filtered peer in (R98-R104)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from engine import Bind, BindState, Engine, Flags, HResult, IpFilter, Transport
from tests.e2e.harness import FTP_GUID, WAIT, RunningService, ServiceFactory, free_port
from tests.e2e.socks_client import BIND, SocksClient

pytestmark = pytest.mark.timeout(60)


def knock(address: tuple[str, int], source: str) -> socket.socket:
    """Connect to ``address`` from ``source`` (a distinct loopback address: a distinct peer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(WAIT)
    sock.bind((source, 0))
    sock.connect(address)
    return sock


def assert_reset(address: tuple[str, int], source: str) -> None:
    """An attempt from ``source`` is reset at once (during or right after connect): no byte."""
    with pytest.raises(ConnectionResetError), knock(address, source) as sock:
        sock.recv(1)


def discarded(bind: Bind, reason: str, count: int) -> Callable[[Engine], bool]:
    """A ``wait_for`` predicate: ``bind`` has discarded ``count`` attempts for ``reason``."""
    return lambda _: bind.discarded.get(reason, 0) == count


def allow(running: RunningService, bind: Bind, ip_filter: IpFilter | None) -> HResult:
    return running.engine_call(
        lambda engine: engine.retroactive_allow_bind(
            bind.session, Transport.TCP, bind.address, None, FTP_GUID, Flags.NONE, ip_filter
        )
    )


def open_bind(running: RunningService, client: SocksClient) -> Bind:
    assert client.greet() == 0
    first = client.request(BIND, "0.0.0.0", 0)
    assert first.code == 0
    assert first.host == "127.0.0.1"
    assert first.port != 0
    return running.bind_at(first.address)


def test_r98_to_r101_a_bind_is_pending_until_allowed_then_only_the_filtered_peer_gets_in(
    service: RunningService,
) -> None:
    """R98-R101 in one story, on real sockets (reference §14.3)."""
    with SocksClient(service.address) as client:
        bind = open_bind(service, client)
        # R98: first reply 0x00 although no rule allows inbound on that port; the bind is pending.
        assert service.engine_call(lambda _: bind.state) is BindState.PENDING

        # R99: an attempt while pending is reset and counted; no second reply; the bind listens on.
        assert_reset(bind.address, "127.0.0.3")
        service.wait_for(discarded(bind, "pending", 1), "one discard")
        assert client.quiet()
        assert_reset(bind.address, "127.0.0.2")
        service.wait_for(discarded(bind, "pending", 2), "two discards")
        assert client.quiet()

        assert allow(service, bind, IpFilter.from_specs(["127.0.0.2"])) is HResult.S_OK

        # R101: after approval, a peer outside the filter is still reset, without a second reply.
        assert_reset(bind.address, "127.0.0.3")
        service.wait_for(discarded(bind, "ip-filter", 1), "filter discard")
        assert client.quiet()

        # R100: the peer in the filter gets through: second reply with its address, bytes flow.
        with knock(bind.address, "127.0.0.2") as peer:
            second = client.read_reply()
            assert (second.code, second.address) == (0, peer.getsockname())
            peer.sendall(b"hello from the peer")
            assert client.sock.recv(100) == b"hello from the peer"
            client.sock.sendall(b"hello from the client")
            assert peer.recv(100) == b"hello from the client"
        assert client.sock.recv(100) == b""


def test_a_bind_request_naming_the_clients_own_address_is_accepted(
    service: RunningService,
) -> None:
    """Real clients send their own address with port 0, or 0.0.0.0:0: a hint, never a refusal."""
    with SocksClient(service.address) as client:
        client.greet()
        assert client.request(BIND, "127.0.0.1", 0).code == 0


def test_r103_closing_the_socks_connection_terminates_and_closes_the_bind(
    service: RunningService,
) -> None:
    """R103: the bind goes with its connection: NOT_FOUND afterwards, no opening, no listener.

    Another connection of the same client keeps the session alive, as an FTP
    control connection does while its data connection comes and goes.
    """
    with SocksClient(service.address) as control:
        open_bind(service, control)
        client = SocksClient(service.address)
        bind = open_bind(service, client)
        assert allow(service, bind, None) is HResult.S_OK
        assert bind.id in service.engine_call(lambda engine: [o.bind_id for o in engine.openings()])
        client.close()
        service.wait_for(lambda engine: engine.get_bind(bind.id) is None, "the bind is gone")
        assert service.engine_call(lambda _: bind.state) is BindState.CLOSED
        assert service.engine_call(lambda engine: engine.openings()) == []
        assert allow(service, bind, None) is HResult.NOT_FOUND
        with pytest.raises(ConnectionRefusedError):
            knock(bind.address, "127.0.0.2")


def test_r103_the_peer_connection_ends_when_the_client_goes(service: RunningService) -> None:
    client = SocksClient(service.address)
    bind = open_bind(service, client)
    allow(service, bind, None)
    with knock(bind.address, "127.0.0.2") as peer:
        assert client.read_reply().code == 0
        client.close()
        assert peer.recv(100) == b""
    service.wait_for(lambda engine: engine.get_bind(bind.id) is None, "the bind is gone")


def test_r104_a_new_bind_on_a_port_that_was_allowed_before_starts_pending(
    start_service: ServiceFactory,
) -> None:
    """R104: with a one-port range, the second BIND gets the same port, and it is pending again."""
    port = free_port()
    running = start_service(bind_ports=f"{port}-{port}")
    with SocksClient(running.address) as client:
        first = open_bind(running, client)
        assert first.address == ("127.0.0.1", port)
        assert allow(running, first, None) is HResult.S_OK
    running.wait_for(lambda engine: engine.get_bind(first.id) is None, "the first bind is gone")
    with SocksClient(running.address) as client:
        second = open_bind(running, client)
        assert second.address == ("127.0.0.1", port)
        assert running.engine_call(lambda _: second.state) is BindState.PENDING
        assert_reset(second.address, "127.0.0.2")


def test_when_the_bind_ports_are_all_taken_the_first_reply_is_a_general_failure(
    start_service: ServiceFactory,
) -> None:
    port = free_port()
    running = start_service(bind_ports=f"{port}-{port}")
    with SocksClient(running.address) as holder:
        open_bind(running, holder)
        with SocksClient(running.address) as client:
            client.greet()
            assert client.request(BIND, "0.0.0.0", 0).code == 0x01
            assert client.until_closed() == b""


def test_an_operator_terminate_closes_the_bind_and_tells_the_client(
    service: RunningService,
) -> None:
    """§14.2 proposal: a bind that will never be usable gets second reply 0x01, then a close."""
    with SocksClient(service.address) as client:
        bind = open_bind(service, client)
        assert service.run(service.service.terminate(bind.id)) is HResult.S_OK
        assert client.read_reply().code == 0x01
        assert client.until_closed() == b""
        assert service.engine_call(lambda engine: engine.get_bind(bind.id)) is None
        assert service.run(service.service.terminate(bind.id)) is HResult.NOT_FOUND
