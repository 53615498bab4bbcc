"""The TCP byte relay, on socket pairs: order, half-close, back-pressure, errors, cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
from collections.abc import Coroutine
from typing import Any

import pytest

from engine.relay import relay

pytestmark = pytest.mark.timeout(30)


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of non-blocking stream sockets: (the relay's end, the test's end)."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    return ours, theirs


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 20))


async def read_all(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    chunks = []
    while chunk := await loop.sock_recv(sock, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_bytes_flow_both_ways_and_end_of_stream_is_passed_on_as_a_half_close() -> None:
    """The first end of stream is a half-close; after the second, the caller's close ends it."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        (left, client), (right, server) = pair(), pair()
        relaying = asyncio.ensure_future(relay(left, right, to_right=b"early "))
        await loop.sock_sendall(client, b"request")
        client.shutdown(socket.SHUT_WR)
        assert await read_all(server) == b"early request"
        await loop.sock_sendall(server, b"response after the client's end of stream")
        server.shutdown(socket.SHUT_WR)
        await relaying
        left.close()
        right.close()
        assert await read_all(client) == b"response after the client's end of stream"
        client.close()
        server.close()

    run(scenario())


def test_a_slow_reader_gets_every_byte_in_order() -> None:
    """Back-pressure: what the target cannot take waits, and reading pauses meanwhile."""
    data = os.urandom(8 * 1024 * 1024)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        (left, client), (right, server) = pair(), pair()
        relaying = asyncio.ensure_future(relay(left, right))

        async def slow_reader() -> bytes:
            received = bytearray()
            while chunk := await loop.sock_recv(server, 4096):
                received += chunk
                if len(received) % 65536 < 4096:
                    await asyncio.sleep(0)
            return bytes(received)

        reading = asyncio.ensure_future(slow_reader())
        await loop.sock_sendall(client, data)
        client.shutdown(socket.SHUT_WR)
        received = await reading
        assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
        server.close()
        await relaying
        for sock in (left, right, client):
            sock.close()

    run(scenario())


def test_a_reset_on_one_side_ends_the_relay() -> None:
    async def scenario() -> None:
        (left, client), (right, server) = pair(), pair()
        relaying = asyncio.ensure_future(relay(left, right))
        await asyncio.sleep(0)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()
        client.send(b"into the void")
        await relaying
        for sock in (left, right, client):
            sock.close()

    run(scenario())


def test_cancelling_the_relay_stops_watching_both_sockets() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        (left, client), (right, server) = pair(), pair()
        relaying = asyncio.ensure_future(relay(left, right))
        await asyncio.sleep(0)
        relaying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await relaying
        await loop.sock_sendall(client, b"not relayed")
        await asyncio.sleep(0.05)
        assert left.recv(100) == b"not relayed"
        for sock in (left, right, client, server):
            sock.close()

    run(scenario())
