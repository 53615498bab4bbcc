"""The TCP byte relay: move bytes both ways between two connected sockets until both ends finish.

Each direction is a small pump driven by event-loop reader/writer callbacks:
no coroutine, future or per-chunk object beyond a memoryview slice. A pump
reads into its own buffer and sends at once; when the target cannot take
everything, the pump stops reading until the rest is out, so nothing is ever
copied in Python. Buffers start small (many connections are short) and grow
to ``CHUNK`` the first time a read fills one (a bulk transfer). End of stream
in one direction is passed on as a half-close (``shutdown(SHUT_WR)``) while
the other direction keeps going; an error in either direction ends both.

``os.splice`` (socket -> pipe -> socket in the kernel) was measured against
this on a 1 GiB loopback transfer and did not pay on the reference machine,
so it is not used (see the data-plane notes in the README).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final

__all__ = ["CHUNK", "FIRST_CHUNK", "relay"]

FIRST_CHUNK: Final = 64 * 1024
"""A pump's first buffer: enough for any request/response exchange."""

CHUNK: Final = 1024 * 1024
"""A bulk pump's buffer: large, so a bulk transfer costs few Python steps."""

_BURST: Final = 16
"""Chunks a pump moves per wake-up before it lets other connections run."""


async def relay(
    left: socket.socket, right: socket.socket, *, to_right: bytes = b"", to_left: bytes = b""
) -> None:
    """Relay between two connected non-blocking sockets until both directions end.

    ``to_right``/``to_left`` are bytes already read from the other side (e.g.
    what a client pipelined after its SOCKS request); they are written first.
    Returns on a clean finish or a connection error; cancelling it stops both
    pumps at once. The caller owns the sockets and must close them on return:
    the second end of stream is passed on by that close, not by a half-close
    (one system call less per connection).
    """
    loop = asyncio.get_running_loop()
    if to_right:
        await loop.sock_sendall(right, to_right)
    if to_left:
        await loop.sock_sendall(left, to_left)
    ending = _Ending(loop)
    pumps = (_Pump(loop, left, right, ending), _Pump(loop, right, left, ending))
    for pump in pumps:
        pump.start()
    try:
        await ending.done
    finally:
        for pump in pumps:
            pump.stop()


class _Ending:
    """When a relay is over: both directions at end of stream, or an error in either."""

    __slots__ = ("done", "running")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.running = 2

    def end_of_stream(self) -> bool:
        """One direction has ended cleanly; True while the other still runs."""
        self.running -= 1
        if self.running == 0:
            self.abort()
        return self.running > 0

    def abort(self) -> None:
        """End the relay now."""
        if not self.done.done():
            self.done.set_result(None)


class _Pump:
    """One direction: ``recv_into`` its buffer, ``send`` at once, pause reading on a backlog."""

    __slots__ = (
        "_active",
        "_buffer",
        "_dst",
        "_end",
        "_ending",
        "_loop",
        "_source",
        "_src",
        "_start",
        "_target",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        source: socket.socket,
        target: socket.socket,
        ending: _Ending,
    ) -> None:
        self._loop = loop
        self._source = source
        self._target = target
        self._src = source.fileno()
        self._dst = target.fileno()
        self._ending = ending
        self._buffer = memoryview(bytearray(FIRST_CHUNK))
        self._start = self._end = 0
        self._active = False

    def start(self) -> None:
        """Begin by waiting for the source to have bytes."""
        self._active = True
        self._loop.add_reader(self._src, self._on_readable)

    def stop(self) -> None:
        """Stop watching both sockets (idempotent)."""
        if self._active:
            self._active = False
            self._loop.remove_reader(self._src)
            self._loop.remove_writer(self._dst)

    def _on_readable(self) -> None:
        source, target = self._source, self._target
        for _ in range(_BURST):
            buffer = self._buffer
            try:
                size = source.recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._fail()
                return
            if size == 0:
                self._end_of_stream()
                return
            sent = 0
            try:
                while sent < size:
                    sent += target.send(buffer[sent:size])
            except (BlockingIOError, InterruptedError):
                self._wait_for_target(sent, size)
                return
            except OSError:
                self._fail()
                return
            if size == len(buffer) < CHUNK:
                self._buffer = memoryview(bytearray(CHUNK))

    def _wait_for_target(self, start: int, end: int) -> None:
        """Stop reading until the buffer's unsent bytes ``start:end`` are out."""
        self._start, self._end = start, end
        self._loop.remove_reader(self._src)
        self._loop.add_writer(self._dst, self._on_writable)

    def _on_writable(self) -> None:
        buffer, target = self._buffer, self._target
        try:
            while self._start < self._end:
                self._start += target.send(buffer[self._start : self._end])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._fail()
            return
        self._loop.remove_writer(self._dst)
        self._loop.add_reader(self._src, self._on_readable)

    def _end_of_stream(self) -> None:
        """Pass the EOF on as a half-close, unless both directions are done (the close will)."""
        self.stop()
        if self._ending.end_of_stream() and not _half_close(self._target):
            self._ending.abort()

    def _fail(self) -> None:
        self.stop()
        self._ending.abort()


def _half_close(sock: socket.socket) -> bool:
    """Pass end-of-stream on; False when the peer is already gone."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return False
    return True
