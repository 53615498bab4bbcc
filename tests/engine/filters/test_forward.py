"""``BindForClient`` on real sockets: the engine's verdicts guard the listener, the accepted
connection is forwarded to the client's address (R37, R38, R43-R45, R94)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from engine.core import BindState, Engine, HResult, IpFilter
from engine.filters.forward import Forwarder
from engine.socks.server import ServerOptions, SocksServer
from tests.engine.filters.conftest import ALLOW_ALL, FTP_GUID, ruleset

pytestmark = pytest.mark.timeout(30)

SERVER_ONLY = IpFilter.from_specs(["127.0.0.2"])


Scenario = Callable[[Engine, Forwarder, socket.socket, SocksServer], Awaitable[None]]


def run(scenario: Scenario) -> None:
    """Run ``scenario`` with an engine that allows FTP, a forwarder, the client's listener and
    the (unstarted) SOCKS server that tracks the forwarder's binds."""

    async def main() -> None:
        engine = Engine(ruleset(ALLOW_ALL))
        server = SocksServer(engine, external="127.0.0.1", options=ServerOptions())
        forwarder = Forwarder(engine, host="127.0.0.1", advertised="127.0.0.1", tracker=server)
        with socket.create_server(("127.0.0.1", 0)) as inside:
            inside.setblocking(False)
            try:
                await asyncio.wait_for(scenario(engine, forwarder, inside, server), 10)
            finally:
                await forwarder.close()

    asyncio.run(main())


async def connect_from(source: str, address: tuple[str, int]) -> tuple[
    asyncio.StreamReader, asyncio.StreamWriter
]:  # fmt: skip
    return await asyncio.open_connection(*address, local_addr=(source, 0))


async def assert_reset(source: str, address: tuple[str, int]) -> None:
    """A connection from ``source`` is reset (while connecting or right after), without a byte."""

    async def attempt() -> None:
        reader, writer = await connect_from(source, address)
        try:
            await reader.read(1)
        finally:
            writer.close()

    with pytest.raises(ConnectionResetError):
        await attempt()


def test_r45_the_server_is_forwarded_to_the_client_and_a_stranger_is_reset() -> None:
    async def scenario(
        engine: Engine, forwarder: Forwarder, inside: socket.socket, server: SocksServer
    ) -> None:
        session = engine.session("127.0.0.1")
        result, address = forwarder.bind_for_client(
            session, inside.getsockname(), FTP_GUID, SERVER_ONLY, "filter:test"
        )
        assert result is HResult.S_OK
        assert address is not None
        (bind,) = engine.binds()
        assert (bind.state, bind.allowed_by, bind.address) == (
            BindState.ALLOWED,
            "filter:test",
            address,
        )

        await assert_reset("127.0.0.3", address)
        assert bind.discarded == {"ip-filter": 1}  # R94, R101

        reader, writer = await connect_from("127.0.0.2", address)
        loop = asyncio.get_running_loop()
        forwarded, _ = await loop.sock_accept(inside)
        with forwarded:
            writer.write(b"data from the server")
            assert await loop.sock_recv(forwarded, 100) == b"data from the server"
            await loop.sock_sendall(forwarded, b"from the client")
            assert await reader.readexactly(15) == b"from the client"
        assert await reader.read() == b""
        writer.close()
        while engine.binds():
            await asyncio.sleep(0.01)
        assert bind.state is BindState.CLOSED
        assert bind.accepted == 1

    run(scenario)


def test_closing_the_forwarder_closes_listeners_nobody_used() -> None:
    async def scenario(
        engine: Engine, forwarder: Forwarder, inside: socket.socket, server: SocksServer
    ) -> None:
        session = engine.session("127.0.0.1")
        _, address = forwarder.bind_for_client(
            session, inside.getsockname(), FTP_GUID, SERVER_ONLY, "filter:test"
        )
        assert address is not None
        await forwarder.close()
        assert engine.binds() == []
        assert engine.openings() == []
        with pytest.raises(ConnectionRefusedError):
            await connect_from("127.0.0.2", address)

    run(scenario)


def test_r44_a_protocol_the_session_may_not_use_creates_nothing() -> None:
    async def scenario(
        _: Engine, __: Forwarder, inside: socket.socket, server: SocksServer
    ) -> None:
        engine = Engine(ruleset())
        forwarder = Forwarder(engine, host="127.0.0.1", advertised="127.0.0.1", tracker=server)
        result, address = forwarder.bind_for_client(
            engine.session("127.0.0.1"), inside.getsockname(), FTP_GUID, None, "filter:test"
        )
        assert (result, address) == (HResult.FWX_E_PROTOCOL_RULES_DENIED, None)
        assert engine.binds() == []

    run(scenario)


def test_a_client_that_is_not_listening_ends_the_forwarded_connection_and_the_bind() -> None:
    async def scenario(
        engine: Engine, forwarder: Forwarder, inside: socket.socket, server: SocksServer
    ) -> None:
        gone = inside.getsockname()
        inside.close()
        _, address = forwarder.bind_for_client(
            engine.session("127.0.0.1"), gone, FTP_GUID, None, "filter:test"
        )
        assert address is not None
        reader, writer = await connect_from("127.0.0.2", address)
        assert await reader.read() == b""
        writer.close()
        while engine.binds():
            await asyncio.sleep(0.01)

    run(scenario)


def test_an_ended_bind_stops_listening_at_the_next_attempt() -> None:
    """An operator's terminate: the next attempt is discarded and the listener closes."""

    async def scenario(
        engine: Engine, forwarder: Forwarder, inside: socket.socket, server: SocksServer
    ) -> None:
        _, address = forwarder.bind_for_client(
            engine.session("127.0.0.1"), inside.getsockname(), FTP_GUID, None, "filter:test"
        )
        assert address is not None
        (bind,) = engine.binds()
        engine.terminate(bind)
        await assert_reset("127.0.0.2", address)
        while engine.binds():
            await asyncio.sleep(0.01)
        with pytest.raises(ConnectionRefusedError):
            await connect_from("127.0.0.2", address)

    run(scenario)


def test_an_operator_terminate_closes_the_listener_at_once() -> None:
    """The service's terminate reaps tracked binds: no attempt is needed to close the listener."""

    async def scenario(
        engine: Engine, forwarder: Forwarder, inside: socket.socket, server: SocksServer
    ) -> None:
        _, address = forwarder.bind_for_client(
            engine.session("127.0.0.1"), inside.getsockname(), FTP_GUID, None, "filter:test"
        )
        assert address is not None
        await asyncio.sleep(0)
        (bind,) = engine.binds()
        engine.terminate(bind)
        ended = server.reap()
        assert len(ended) == 1
        await asyncio.wait(ended, timeout=5)
        assert bind.state is BindState.CLOSED
        with pytest.raises(ConnectionRefusedError):
            await connect_from("127.0.0.2", address)

    run(scenario)
