"""Primary connections through their application filter: which filter, and the relay that runs it.

A CONNECT accepted by the protocol rules matched a protocol definition by
its primary connection (outbound TCP on the destination port); when that
definition names a filter (``filter = "ftp"``), the connection is relayed
through it instead of the plain relay. Connections accepted for another
reason (an ``allow_future_connect`` permission, i.e. a secondary connection)
are never filtered.

The filtered relay reads each side, hands the bytes to the filter's hook,
and writes what the hook returns, to either side (writes to one socket are
serialised, so an answer to the client never lands inside a server reply).
End of stream on one side is passed to the hook (empty bytes), then on as a
half-close. A hook that raises ends the connection with a log line; the
service goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from engine.core import Endpoint, Engine, Session, Verdict
from engine.core.verdicts import ALLOWED
from engine.filters.base import Filter, FilterSession, Output
from engine.filters.forward import Forwarder
from engine.filters.registry import default_registry
from engine.socks.bind import BindTracker
from rules.addresses import address_key, key_text
from rules.model import ProtocolDefinition

__all__ = ["Attachment", "MissingFilter", "attachment_for", "run_filtered"]

logger = logging.getLogger("fwx.filters")

_READ_SIZE: Final = 65536

_T = TypeVar("_T")


class MissingFilter(Exception):
    """The destination's protocol names a filter that is not available (R71: unusable)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """The filter a primary connection runs through, and the protocol it runs for."""

    filter_class: type[Filter]
    protocol: ProtocolDefinition


def attachment_for(verdict: Verdict) -> Attachment | None:
    """The filter for a CONNECT the rules accepted, or None for the plain relay.

    The protocol is the one whose rules decided the verdict. Raises
    :class:`MissingFilter` when it names a filter the registry does not have.
    """
    if verdict.reason != ALLOWED or verdict.protocol is None:
        return None
    return _attach(verdict.protocol)


def _attach(protocol: ProtocolDefinition) -> Attachment | None:
    if protocol.filter is None:
        return None
    registry = default_registry()
    filter_class = registry.get(protocol.filter)
    if filter_class is None:
        raise MissingFilter(f"protocol {protocol.name!r}: {registry.missing(protocol.filter)}")
    return Attachment(filter_class, protocol)


async def run_filtered(
    engine: Engine,
    session: Session,
    attachment: Attachment,
    client: socket.socket,
    server: socket.socket,
    external: str,
    early: bytes,
    tracker: BindTracker,
) -> None:
    """Relay between ``client`` and ``server`` through the attached filter until both end.

    ``early`` is what the client sent right after its SOCKS request. The
    filter's ``BindForClient`` listeners go on ``external``; the caller owns
    and closes both sockets.
    """
    name = attachment.filter_class.name
    advertised = _canonical(server.getsockname()[0])
    forwarder = Forwarder(engine, host=external, advertised=advertised, tracker=tracker)
    filter_session = FilterSession(
        engine,
        session,
        protocol=attachment.protocol.guid,
        client=_endpoint(client.getpeername()),
        server=_endpoint(server.getpeername()),
        external=advertised,
        actor=f"filter:{name}",
        binder=forwarder,
    )
    pipe = _FilteredPipe(client, server, name, filter_session.client[0])
    try:
        watcher = pipe.call(attachment.filter_class, filter_session)
        if watcher is not None:
            try:
                await pipe.run(watcher, early)
            finally:
                pipe.call(watcher.closed)
    finally:
        await forwarder.close()


class _FilteredPipe:
    """Both directions of one filtered connection."""

    def __init__(self, client: socket.socket, server: socket.socket, name: str, peer: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = client
        self._server = server
        self._name = name
        self._peer = peer
        self._to_client = asyncio.Lock()
        self._to_server = asyncio.Lock()

    def call(self, function: Callable[..., _T], *args: object) -> _T | None:
        """``function(*args)``, or None with a log line when it raises (the filter is contained)."""
        try:
            return function(*args)
        except Exception as exc:  # a filter's bug must end its connection, not the service
            logger.error(
                "filter %r failed on a connection of %s, which is closed: %r",
                self._name,
                self._peer,
                exc,
            )
            return None

    async def run(self, watcher: Filter, early: bytes) -> None:
        """Pump both directions until both have ended, or until either fails."""
        if early and not await self._pass(watcher.client_data, early):
            return
        pumps = [
            asyncio.ensure_future(self._pump(self._client, self._server, watcher.client_data)),
            asyncio.ensure_future(self._pump(self._server, self._client, watcher.server_data)),
        ]
        try:
            for finished in asyncio.as_completed(pumps):
                if not await finished:
                    return
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump(
        self, source: socket.socket, target: socket.socket, hook: Callable[[bytes], Output]
    ) -> bool:
        """One direction; True when it ended cleanly, False when the connection must end."""
        while True:
            try:
                data = await self._loop.sock_recv(source, _READ_SIZE)
            except OSError:
                return False
            if not await self._pass(hook, data):
                return False
            if not data:
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)
                return True

    async def _pass(self, hook: Callable[[bytes], Output], data: bytes) -> bool:
        """Give ``data`` to ``hook`` and write what it returns; False when either fails."""
        output = self.call(hook, data)
        if output is None:
            return False
        try:
            if output.to_server:
                async with self._to_server:
                    await self._loop.sock_sendall(self._server, output.to_server)
            if output.to_client:
                async with self._to_client:
                    await self._loop.sock_sendall(self._client, output.to_client)
        except OSError:
            return False
        return True


def _endpoint(address: tuple[str, int] | tuple[str, int, int, int]) -> Endpoint:
    return _canonical(address[0]), address[1]


def _canonical(ip: str) -> str:
    """Canonical IP text (an IPv4-mapped IPv6 address is its IPv4 address)."""
    return key_text(address_key(ip.partition("%")[0]))
