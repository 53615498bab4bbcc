"""``BindForClient`` on real sockets: a listener on the external address that forwards inward.

When a filter calls ``bind_for_client`` (a client that did not bind itself,
e.g. an FTP client that sent its own address in ``PORT``), the firewall
listens on its external address and the engine records the bind, allowed
from the start with the filter's IP filter (R37, R38, R43, R44). Every
inbound attempt is put to ``engine.inbound``, exactly as on a client's
``BIND``: a discarded one is reset and counted, and the listener keeps
listening (R94, R99, R101). The first accepted connection is forwarded to the
client's address (R45) and relayed; the listener then closes, and the bind
ends when that relay does. A bind the engine ends meanwhile (an operator's
terminate, the session's end) discards the next attempt, and its listener
closes then.

A :class:`Forwarder` belongs to the connection whose filter made the binds.
When that connection ends, listeners still waiting are closed and their
binds ended; forwarded connections already running are let finish.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from typing import Final

from engine.core import Bind, BindState, Endpoint, Engine, HResult, IpFilter, Session, Transport
from engine.relay import relay
from engine.socks.bind import BindTracker, claim_with, end_bind, reset

__all__ = ["INSIDE_CONNECT_TIMEOUT", "Forwarder"]

logger = logging.getLogger("fwx.filters")

INSIDE_CONNECT_TIMEOUT: Final = 10.0
"""Seconds a forwarded connection may take to reach the client's address."""


class Forwarder:
    """The listeners of one connection's ``BindForClient`` binds, and their forwarded relays."""

    def __init__(self, engine: Engine, *, host: str, advertised: str, tracker: BindTracker) -> None:
        """Listeners on ``host``; advertised as ``advertised`` when ``host`` is INADDR_ANY.

        ``tracker`` ties each bind to its forwarding task, so that the engine
        ending the bind (operator, expiry) cancels the task and closes the listener.
        """
        self._engine = engine
        self._tracker = tracker
        self._host = host
        self._advertised = advertised
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: set[asyncio.Task[None]] = set()

    def bind_for_client(
        self,
        session: Session,
        client_address: Endpoint,
        protocol_guid: uuid.UUID,
        ip_filter: IpFilter | None,
        actor: str,
    ) -> tuple[HResult, Endpoint | None]:
        """Listen, have the engine record the bind, and start forwarding (see the module doc)."""
        engine = self._engine

        def record(address: Endpoint) -> tuple[HResult, Bind | None]:
            return engine.bind_for_client(
                session, Transport.TCP, [client_address], address, protocol_guid, 0, ip_filter,
                actor=actor,
            )  # fmt: skip

        ports = engine.rules.service.bind_ports
        result, claimed = claim_with(record, Transport.TCP, self._host, ports)
        if claimed is None:
            return result, None
        listener, bind = claimed
        task = asyncio.ensure_future(self._forward(listener, bind, client_address))
        self._tasks.add(task)
        self._waiting.add(task)
        task.add_done_callback(lambda done: self._finished(done, listener, bind))
        host, port = bind.address
        return result, (self._advertised if host in ("0.0.0.0", "::") else host, port)

    async def close(self) -> None:
        """Close the listeners still waiting; wait for the forwarded connections to finish."""
        for task in self._waiting:
            task.cancel()
        running = list(self._tasks)
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def _finished(self, task: asyncio.Task[None], listener: socket.socket, bind: Bind) -> None:
        """A forwarding is over, even one cancelled before it started: close and end its bind."""
        self._tasks.discard(task)
        self._waiting.discard(task)
        self._tracker.untrack(bind)
        listener.close()
        end_bind(self._engine, bind)

    async def _forward(self, listener: socket.socket, bind: Bind, client_address: Endpoint) -> None:
        peer: socket.socket | None = None
        inside: socket.socket | None = None
        self._tracker.track(bind)
        try:
            peer = await self._first_accepted(listener, bind)
            listener.close()
            if peer is None:
                return
            current = asyncio.current_task()
            if current is not None:
                self._waiting.discard(current)
            async with asyncio.timeout(INSIDE_CONNECT_TIMEOUT):
                inside = await _connect(client_address)
            await relay(peer, inside)
        except (OSError, TimeoutError) as exc:
            logger.info("bind %d: forwarding to %s failed: %r", bind.id, client_address[0], exc)
        finally:
            for sock in (peer, inside):
                if sock is not None:
                    sock.close()

    async def _first_accepted(self, listener: socket.socket, bind: Bind) -> socket.socket | None:
        """The first inbound connection the engine accepts; None once the bind has ended."""
        loop = asyncio.get_running_loop()
        while bind.state is BindState.ALLOWED:
            sock, address = await loop.sock_accept(listener)
            remote: Endpoint = (address[0], address[1])
            if self._engine.inbound(Transport.TCP, bind.address, remote).accepted:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            reset(sock)
        return None


async def _connect(target: Endpoint) -> socket.socket:
    """A non-blocking TCP connection to the client's ``target``."""
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.get_running_loop().sock_connect(sock, target)
    except BaseException:
        sock.close()
        raise
    return sock
