"""SOCKS5 BIND: a listening socket on the external address that the engine guards.

The bind is never refused for rule reasons (R9, R10, R98): the first reply
names the listening address as soon as the engine has recorded the bind.
Every inbound attempt asks ``engine.inbound``. A discarded one is reset at
once (``SO_LINGER`` 0), the engine counts it, and the listener keeps
listening (R99, R101); the first accepted one gets the second reply with the
peer's address and the bytes are relayed both ways (R100). When the client's
connection closes, or the engine ends the bind (expiry, operator), the bind
is terminated and closed, its opening goes, and every socket closes (R103).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import socket
import struct
from collections.abc import Callable, Iterable
from typing import Final, Protocol

from engine.core import Bind, BindState, Endpoint, Engine, HResult, Session, Transport
from engine.relay import relay
from engine.socks.codec import ServerConnection
from engine.socks.messages import Reply, SocksAddress
from engine.socks.states import State

__all__ = [
    "ACCEPT_PAUSE",
    "MAX_EARLY_DATA",
    "BindTracker",
    "claim",
    "claim_with",
    "end_bind",
    "reply_address",
    "reset",
    "serve_bind",
]

logger = logging.getLogger("fwx.socks")

MAX_EARLY_DATA: Final = 256 * 1024
"""Bytes a BIND client may send before its peer connects; more ends the bind."""

_LINGER_ZERO: Final = struct.pack("ii", 1, 0)
_ACCEPT_BURST: Final = 64
_IN_USE: Final = frozenset({errno.EADDRINUSE, errno.EACCES})
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

ACCEPT_PAUSE: Final = 1.0
"""Seconds a bind stops accepting when the system is out of descriptors or memory."""


class BindTracker(Protocol):
    """Who must hear of a connection's bind, so an engine-side ending reaches the sockets."""

    def track(self, bind: Bind) -> None: ...

    def untrack(self, bind: Bind) -> None: ...


def claim(
    engine: Engine,
    session: Session,
    transport: Transport,
    host: str,
    ports: tuple[int, int] | None,
) -> tuple[socket.socket, Bind] | None:
    """Bind a socket on ``host`` (a port from ``ports``, or the OS's choice) and record it.

    TCP sockets are listening when returned. None when no port is free or
    the engine refuses the bind (ended session, per-session cap).
    """
    _, claimed = claim_with(
        lambda address: engine.bind(session, transport, address), transport, host, ports
    )
    return claimed


def claim_with(
    record: Callable[[Endpoint], tuple[HResult, Bind | None]],
    transport: Transport,
    host: str,
    ports: tuple[int, int] | None,
) -> tuple[HResult, tuple[socket.socket, Bind] | None]:
    """Bind a socket on ``host`` and have ``record`` make the engine's bind on its address.

    ``record`` is ``engine.bind`` for a client's bind, ``engine.bind_for_client``
    for a filter's. An address the engine reports taken (``E_INVALIDARG``) is
    skipped for the next port of the range. The result is the engine's answer,
    or ``FWX_E_OUT_OF_RESOURCES`` when no socket could be bound (every port of
    ``ports`` in use, or the system refuses a socket, e.g. out of file
    descriptors), which is logged as a warning: the operator must hear of it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_STREAM if transport is Transport.TCP else socket.SOCK_DGRAM
    name = transport.name.lower()
    result = HResult.FWX_E_OUT_OF_RESOURCES
    for port in _candidates(ports):
        try:
            sock = _bound(family, kind, host, port)
        except OSError as exc:
            if exc.errno in _IN_USE and port != 0:
                continue
            logger.warning("cannot open a %s bind on %s: %s", name, host, exc.strerror or exc)
            return HResult.FWX_E_OUT_OF_RESOURCES, None
        result, bind = record(sock.getsockname()[:2])
        if bind is not None:
            return result, (sock, bind)
        sock.close()
        if result is not HResult.E_INVALIDARG or port == 0:
            return result, None
    if result is HResult.FWX_E_OUT_OF_RESOURCES and ports is not None:
        low, high = ports
        logger.warning(
            "no free %s port in bind_ports %d-%d on %s: a bind is refused", name, low, high, host
        )
    return result, None


def _bound(family: int, kind: int, host: str, port: int) -> socket.socket:
    """A non-blocking socket bound to ``host``:``port`` (listening, for TCP); OSError if not."""
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(16)
        else:
            sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _candidates(ports: tuple[int, int] | None) -> Iterable[int]:
    """Port 0 (the OS picks), or every port of the range from a random start."""
    if ports is None:
        return (0,)
    low, high = ports
    start = random.randint(low, high)
    return [*range(start, high + 1), *range(low, start)]


def end_bind(engine: Engine, bind: Bind) -> None:
    """Terminate and close ``bind`` unless the engine already has (R103)."""
    if bind.state in (BindState.PENDING, BindState.ALLOWED):
        engine.terminate(bind)
    if bind.state is BindState.TERMINATING:
        engine.close(bind)


def reply_address(bound: socket.socket, client: socket.socket) -> SocksAddress:
    """The address to give the client for ``bound``: never INADDR_ANY, which it cannot use."""
    host, port = bound.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = client.getsockname()[0]
    return SocksAddress.from_ip(host, port)


async def serve_bind(
    engine: Engine,
    conn: ServerConnection,
    client: socket.socket,
    session: Session,
    external: str,
    tracker: BindTracker,
) -> None:
    """Answer a BIND request: listen, report, wait for an accepted peer, then relay."""
    loop = asyncio.get_running_loop()
    claimed = claim(engine, session, Transport.TCP, external, engine.rules.service.bind_ports)
    if claimed is None:
        await loop.sock_sendall(client, conn.reply(Reply.GENERAL_FAILURE))
        return
    listener, bind = claimed
    tracker.track(bind)
    try:
        await loop.sock_sendall(
            client, conn.reply(Reply.SUCCEEDED, reply_address(listener, client))
        )
        early = bytearray()
        accepted = await _first_accepted(engine, listener, bind.address, client, early)
        listener.close()
        if accepted is None:
            return
        peer, remote = accepted
        try:
            second = conn.second_reply(Reply.SUCCEEDED, SocksAddress.from_ip(*remote))
            await loop.sock_sendall(client, second)
            await relay(client, peer, to_right=conn.trailing_data() + early)
        finally:
            peer.close()
    except asyncio.CancelledError:
        if conn.state is State.AWAITING_SECOND_REPLY:
            with contextlib.suppress(OSError):
                client.send(conn.second_reply(Reply.GENERAL_FAILURE))
        raise
    finally:
        listener.close()
        tracker.untrack(bind)
        end_bind(engine, bind)


async def _first_accepted(
    engine: Engine,
    listener: socket.socket,
    local: Endpoint,
    client: socket.socket,
    early: bytearray,
) -> tuple[socket.socket, Endpoint] | None:
    """The first inbound connection the engine accepts; None once the client is gone."""
    arrival = _Arrival(engine, listener, local, client, early)
    try:
        return await arrival.result
    except asyncio.CancelledError:
        arrival.abandon()
        raise
    finally:
        arrival.stop()


class _Arrival:
    """Watches the listener and the client at once, with event-loop callbacks.

    Each inbound attempt is put to ``engine.inbound``: a discarded one is
    reset (and counted by the engine), and the listener keeps listening; the
    first accepted one is the result. The client closing its connection (or
    sending more than ``MAX_EARLY_DATA`` before a peer arrives) makes the
    result None; what it sends meanwhile is kept in ``early``.
    """

    def __init__(
        self,
        engine: Engine,
        listener: socket.socket,
        local: Endpoint,
        client: socket.socket,
        early: bytearray,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._engine = engine
        self._listener = listener
        self._local = local
        self._client = client
        self._early = early
        self.result: asyncio.Future[tuple[socket.socket, Endpoint] | None]
        self.result = self._loop.create_future()
        self._paused: asyncio.TimerHandle | None = None
        self._loop.add_reader(listener.fileno(), self._on_attempt)
        self._loop.add_reader(client.fileno(), self._on_client)

    def stop(self) -> None:
        """Stop watching both sockets (idempotent)."""
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        for sock in (self._listener, self._client):
            if sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())

    def abandon(self) -> None:
        """Close a peer that was accepted but will not be used (the wait was cancelled)."""
        if self.result.done() and not self.result.cancelled():
            accepted = self.result.result()
            if accepted is not None:
                accepted[0].close()

    def _on_attempt(self) -> None:
        for _ in range(_ACCEPT_BURST):
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause()
                else:
                    self._finish(None)
                return
            remote: Endpoint = (address[0], address[1])
            if self._engine.inbound(Transport.TCP, self._local, remote).accepted:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._finish((sock, remote))
                return
            reset(sock)

    def _pause(self) -> None:
        """Out of descriptors or memory: leave the attempt queued and look again later.

        Ending the bind instead would let any remote end a client's pending
        bind while the service is short of descriptors; accepting again at
        once would spin the event loop. The attempt is decided once accepted.
        """
        self._loop.remove_reader(self._listener.fileno())
        self._paused = self._loop.call_later(ACCEPT_PAUSE, self._resume)

    def _resume(self) -> None:
        self._paused = None
        if not self.result.done():
            self._loop.add_reader(self._listener.fileno(), self._on_attempt)

    def _on_client(self) -> None:
        try:
            data = self._client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self._early += data
        if not data or len(self._early) > MAX_EARLY_DATA:
            self._finish(None)

    def _finish(self, accepted: tuple[socket.socket, Endpoint] | None) -> None:
        self.stop()
        if not self.result.done():
            self.result.set_result(accepted)
        elif accepted is not None:
            accepted[0].close()  # the wait was cancelled in the meantime


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with an RST: what a discarded attempt sees (no second reply)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    sock.close()
