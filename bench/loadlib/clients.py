"""The SOCKS5 clients of the load: relaying CONNECT sessions and held BIND/UDP ASSOCIATE binds.

Written from RFC 1928 with asyncio streams (not with fwx's codec, so a codec
bug cannot hide itself). Every wait has a time-out, so a stuck service makes
a client fail with a reason instead of hanging the run.

- :class:`Relay`: a CONNECT to the echo server, then one exchange every
  ``interval`` seconds (random bytes out, the same bytes must come back)
  until told to stop; every byte is checked and every round trip timed.
- :class:`Hold`: a BIND or UDP ASSOCIATE whose control connection is held
  open. A pending bind must stay silent (no second reply) and open until the
  client closes it; anything else is counted as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "BIND",
    "CONNECT",
    "UDP_ASSOCIATE",
    "Hold",
    "Relay",
    "SocksFailure",
    "Tally",
    "socks_open",
]

CONNECT, BIND, UDP_ASSOCIATE = 1, 2, 3
TIMEOUT = 20.0
"""Seconds any one step (connect, reply, echo) may take before it counts as a failure."""


class SocksFailure(Exception):
    """The SOCKS exchange failed; the message is a short reason used as a tally key."""


@dataclass
class Tally:
    """What a group of clients did: successes, bytes, and failures by reason."""

    opened: int = 0
    exchanges: int = 0
    bytes_out: int = 0
    bytes_back: int = 0
    mismatches: int = 0
    round_trips: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def fail(self, reason: str) -> None:
        """Count one failure."""
        self.failures[reason] += 1


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SocksFailure):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "time-out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed by the service"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__} ({exc.strerror})"
    return type(exc).__name__


def _pack(host: str, port: int) -> bytes:
    return b"\x01" + socket.inet_aton(host) + struct.pack("!H", port)


async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, str, int]:
    head = await reader.readexactly(4)
    if head[0] != 5 or head[2] != 0:
        raise SocksFailure(f"bad reply header {head[:3].hex()}")
    if head[3] == 1:
        host = socket.inet_ntoa(await reader.readexactly(4))
    elif head[3] == 4:
        host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
    else:
        raise SocksFailure(f"unexpected address type {head[3]}")
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    return head[1], host, port


async def socks_open(
    proxy: tuple[str, int], source: str, command: int, host: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, tuple[str, int]]:
    """Connect from ``source``, greet (no authentication), send the request; the first reply.

    Raises :class:`SocksFailure` (or OSError, TimeoutError) unless the reply is success.
    """
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(*proxy, local_addr=(source, 0))
        try:
            writer.write(b"\x05\x01\x00")
            if await reader.readexactly(2) != b"\x05\x00":
                raise SocksFailure("method refused")
            writer.write(bytes((5, command, 0)) + _pack(host, port))
            code, bound_host, bound_port = await _read_reply(reader)
            if code != 0:
                raise SocksFailure(f"reply {code:#04x}")
        except BaseException:
            writer.close()
            raise
    return reader, writer, (bound_host, bound_port)


class Relay:
    """One CONNECT session through the service to the echo server, checking every byte."""

    def __init__(self, tally: Tally, size: int, interval: float) -> None:
        self._tally = tally
        self._size = size
        self._interval = interval
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self, proxy: tuple[str, int], source: str, echo: tuple[str, int]) -> bool:
        """CONNECT to ``echo``; False (and a failure counted) when it does not succeed."""
        try:
            reader, writer, _ = await socks_open(proxy, source, CONNECT, *echo)
        except (SocksFailure, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self._tally.fail(f"open: {_reason(exc)}")
            return False
        self._stream = reader, writer
        self._tally.opened += 1
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Exchange until ``stop`` is set (a random first delay spreads them out), then close."""
        if self._stream is None:
            return
        reader, writer = self._stream
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), random.uniform(0, self._interval))
            while not stop.is_set():
                await self._exchange(reader, writer)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._interval)
            await self._exchange(reader, writer)
        except (SocksFailure, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self._tally.fail(f"relay: {_reason(exc)}")
        finally:
            await _close(writer)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        payload = random.randbytes(random.randint(1, self._size))
        started = time.perf_counter()
        async with asyncio.timeout(TIMEOUT):
            writer.write(payload)
            self._tally.bytes_out += len(payload)
            echoed = await reader.readexactly(len(payload))
        self._tally.round_trips.append(time.perf_counter() - started)
        self._tally.bytes_back += len(echoed)
        self._tally.exchanges += 1
        if echoed != payload:
            self._tally.mismatches += 1


class Hold:
    """A BIND or UDP ASSOCIATE held open; the service must keep it open and silent."""

    def __init__(self, tally: Tally, command: int) -> None:
        self.command = command
        self.reply: tuple[str, int] = ("", 0)
        self._tally = tally
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._closing = False

    async def open(self, proxy: tuple[str, int], source: str) -> bool:
        """Send the request; False (and a failure counted) when it does not succeed."""
        try:
            reader, writer, self.reply = await socks_open(proxy, source, self.command, "0.0.0.0", 0)
        except (SocksFailure, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self._tally.fail(f"open: {_reason(exc)}")
            return False
        self._stream = reader, writer
        self._tally.opened += 1
        self._watch = asyncio.ensure_future(self._silence(reader))
        return True

    async def close(self) -> None:
        """Close the control connection (which ends the bind)."""
        if self._stream is None:
            return
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await _close(self._stream[1])
        self._stream = None

    async def _silence(self, reader: asyncio.StreamReader) -> None:
        """Until closed: any byte is a second reply a pending bind must not get; EOF a lost bind."""
        try:
            data = await reader.read(1)
        except OSError as exc:
            self._tally.fail(f"hold: {_reason(exc)}")
            return
        if not self._closing:
            self._tally.fail("hold: unexpected reply" if data else "hold: closed by the service")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(TIMEOUT):
            await writer.wait_closed()
