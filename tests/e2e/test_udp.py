"""UDP ASSOCIATE end to end: the relay's external socket is a UDP bind (R102, R103, R31)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from engine import Bind, Engine, Flags, HResult, IpFilter, Transport
from tests.e2e.harness import MEDIA_GUID, WAIT, RunningService, ServiceFactory, free_port
from tests.e2e.socks_client import BIND, UDP_ASSOCIATE, SocksClient, udp_packet, udp_unpack

pytestmark = pytest.mark.timeout(60)


def udp_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(WAIT)
    sock.bind((host, 0))
    return sock


@pytest.fixture
def remotes() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two remote peers: 127.0.0.2 (to be let in) and 127.0.0.3 (never)."""
    with udp_socket("127.0.0.2") as inside, udp_socket("127.0.0.3") as outsider:
        yield inside, outsider


def discarded(bind: Bind, reason: str, count: int) -> Callable[[Engine], bool]:
    return lambda _: bind.discarded.get(reason, 0) == count


def udp_bind(running: RunningService) -> Bind:
    found = running.engine_call(
        lambda engine: [b for b in engine.binds() if b.transport is Transport.UDP]
    )
    assert len(found) == 1
    return found[0]


def associate(control: SocksClient, source: tuple[str, int]) -> socket.socket:
    """UDP ASSOCIATE from ``source``; a UDP socket connect()ed to the relay address in the reply."""
    control.greet()
    reply = control.request(UDP_ASSOCIATE, *source)
    assert reply.code == 0
    assert reply.host == "127.0.0.1"
    client = udp_socket("127.0.0.1")
    client.connect(reply.address)
    return client


def allow(running: RunningService, bind: Bind, flags: Flags, ip_filter: IpFilter | None) -> HResult:
    return running.engine_call(
        lambda engine: engine.retroactive_allow_bind(
            bind.session, Transport.UDP, bind.address, None, MEDIA_GUID, flags, ip_filter
        )
    )


def test_r102_datagrams_are_dropped_while_pending_then_relayed_from_the_filter_only(
    service: RunningService, remotes: tuple[socket.socket, socket.socket]
) -> None:
    """R102 and R31 (BIDIRECTIONAL), with a client that connect()s to the relay address."""
    partner, outsider = remotes
    with SocksClient(service.address) as control:
        client = associate(control, ("0.0.0.0", 0))
        bind = udp_bind(service)
        # The first datagram fixes the client's address; port 9 is in no protocol: dropped.
        client.send(udp_packet("127.0.0.3", 9, b"discard me"))
        service.wait_for(discarded(bind, "rules", 1), "the outbound datagram is refused")

        partner.sendto(b"too early", bind.address)
        service.wait_for(discarded(bind, "pending", 1), "the pending bind drops a datagram")

        flags = Flags.BIDIRECTIONAL | Flags.INCREASE_RECEIVE_BUFFER
        assert allow(service, bind, flags, IpFilter.from_specs(["127.0.0.2"])) is HResult.S_OK

        outsider.sendto(b"outside the filter", bind.address)
        service.wait_for(discarded(bind, "ip-filter", 1), "the filter drops a datagram")
        partner.sendto(b"welcome", bind.address)
        assert udp_unpack(client.recv(2048)) == (*partner.getsockname(), b"welcome")

        # BIDIRECTIONAL: the client may answer a recent sender though no rule allows the port.
        client.send(udp_packet(*partner.getsockname(), b"thanks"))
        assert partner.recvfrom(2048) == (b"thanks", bind.address)
        client.close()


def test_datagrams_from_other_client_addresses_and_fragments_are_dropped(
    start_service: ServiceFactory,
) -> None:
    """RFC 1928 §7: only the association's client may use the relay; FRAG != 0 is dropped."""
    with udp_socket("127.0.0.2") as echo:
        target = echo.getsockname()
        running = start_service(udp_send_port=target[1])
        with SocksClient(running.address) as control:
            client = associate(control, ("0.0.0.0", 0))
            client.send(udp_packet(*target, b"first"))
            assert echo.recvfrom(2048)[0] == b"first"
            with udp_socket("127.0.0.1") as stranger:
                stranger.sendto(udp_packet(*target, b"stranger"), client.getpeername())
            client.send(udp_packet(*target, b"fragment", frag=1))
            client.send(udp_packet(*target, b"second"))
            assert echo.recvfrom(2048)[0] == b"second"
            client.close()


def test_a_send_receive_protocol_gets_its_replies_while_the_bind_is_pending(
    start_service: ServiceFactory,
) -> None:
    """A DNS-like exchange: the remote the client sent to is a peer whose replies are let in."""
    with udp_socket("127.0.0.2") as echo:
        running = start_service(udp_send_port=echo.getsockname()[1])
        with SocksClient(running.address) as control:
            client = associate(control, ("0.0.0.0", 0))
            client.send(udp_packet(*echo.getsockname(), b"question"))
            data, source = echo.recvfrom(2048)
            assert data == b"question"
            echo.sendto(b"answer", source)
            assert udp_unpack(client.recv(2048)) == (*echo.getsockname(), b"answer")
            client.close()


def test_a_client_that_names_its_address_receives_before_it_sends(
    service: RunningService, remotes: tuple[socket.socket, socket.socket]
) -> None:
    """With DST.ADDR:PORT given in the request, remote-first protocols work."""
    partner, _ = remotes
    client_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    with SocksClient(service.address) as control:
        control.greet()
        reply = control.request(UDP_ASSOCIATE, "127.0.0.1", client_port)
        assert reply.code == 0
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(WAIT)
        client.bind(("127.0.0.1", client_port))
        bind = udp_bind(service)
        assert allow(service, bind, Flags.NONE, None) is HResult.S_OK
        partner.sendto(b"ring", bind.address)
        data, source = client.recvfrom(2048)
        assert source == reply.address
        assert udp_unpack(data) == (*partner.getsockname(), b"ring")
        client.close()


def test_r103_the_association_ends_with_its_tcp_connection(
    service: RunningService, remotes: tuple[socket.socket, socket.socket]
) -> None:
    """R103: closing the control connection terminates and closes the UDP bind and the relay."""
    partner, _ = remotes
    with SocksClient(service.address) as holder:
        holder.greet()
        assert holder.request(BIND, "0.0.0.0", 0).code == 0
        control = SocksClient(service.address)
        client = associate(control, ("0.0.0.0", 0))
        bind = udp_bind(service)
        assert allow(service, bind, Flags.NONE, None) is HResult.S_OK
        control.close()
        service.wait_for(lambda engine: engine.get_bind(bind.id) is None, "the UDP bind is gone")
        assert service.engine_call(lambda engine: engine.openings()) == []
        assert allow(service, bind, Flags.NONE, None) is HResult.NOT_FOUND
        client.send(udp_packet(*partner.getsockname(), b"anyone?"))
        with pytest.raises(ConnectionRefusedError):
            client.recv(100)
        client.close()
