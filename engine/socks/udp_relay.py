"""SOCKS5 UDP ASSOCIATE: a UDP relay whose external socket is the client's UDP bind.

Two sockets per association. The *inside* one, on the address the client
reached the server on (never ``0.0.0.0``), is named in the reply; datagrams
to the client leave from exactly that address, since some clients
``connect()`` their UDP socket to it. The *outside* one, on the external
address, is the bind the engine records (PENDING unless R11 allows it).

- Client -> remote: only from the association's client (RFC 1928: the IP
  of its TCP connection, and the port the request named or else the first
  port seen); fragments and malformed headers are dropped;
  ``engine.datagram_out`` decides.
- Remote -> client: ``engine.datagram_in`` decides (pending: dropped and
  counted, R102); accepted datagrams get the RFC 1928 header naming the
  remote. Once the bind carries ``INCREASE_RECEIVE_BUFFER`` the outside
  socket's ``SO_RCVBUF`` is raised to at least 64 KiB.
- The association lives as long as its TCP connection (R103).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, Final, cast

from engine.core import Bind, Endpoint, Engine, Flags, Session, Transport
from engine.socks.bind import BindTracker, claim, end_bind
from engine.socks.codec import ServerConnection
from engine.socks.messages import AddressType, ProtocolError, Reply, SocksAddress
from engine.socks.udp import build_datagram, parse_datagram

__all__ = ["RECEIVE_BUFFER", "serve_udp_associate"]

logger = logging.getLogger("fwx.socks")

RECEIVE_BUFFER: Final = 64 * 1024
"""The least ``SO_RCVBUF`` of the outside socket once allowed with ``INCREASE_RECEIVE_BUFFER``."""

_MAX_NAMES: Final = 256
_INSIDE_TRIES: Final = 8
"""Sockets tried for a relay port outside ``bind_ports`` before the kernel's choice is kept."""
_INCREASE = Flags.INCREASE_RECEIVE_BUFFER


async def serve_udp_associate(
    engine: Engine,
    conn: ServerConnection,
    client: socket.socket,
    session: Session,
    source: SocksAddress,
    external: str,
    tracker: BindTracker,
) -> None:
    """Answer a UDP ASSOCIATE request and relay datagrams until the TCP connection ends."""
    loop = asyncio.get_running_loop()
    ports = engine.rules.service.bind_ports
    inside = _inside_socket(client.getsockname()[0], ports)
    claimed = claim(engine, session, Transport.UDP, external, ports)
    if claimed is None or inside is None:
        if inside is not None:
            inside.close()
        if claimed is not None:
            claimed[0].close()
            end_bind(engine, claimed[1])
        await loop.sock_sendall(client, conn.reply(Reply.GENERAL_FAILURE))
        return
    outside, bind = claimed
    tracker.track(bind)
    association = _Association(engine, bind, _expected_client(client, source), outside)
    try:
        await loop.create_datagram_endpoint(lambda: _Inside(association), sock=inside)
        await loop.create_datagram_endpoint(lambda: _Outside(association), sock=outside)
        host, port = inside.getsockname()[:2]
        await loop.sock_sendall(
            client, conn.reply(Reply.SUCCEEDED, SocksAddress.from_ip(host, port))
        )
        await _until_closed(loop, client)
    finally:
        association.close()
        inside.close()
        outside.close()
        tracker.untrack(bind)
        end_bind(engine, bind)


def _inside_socket(host: str, reserved: tuple[int, int] | None) -> socket.socket | None:
    """The client-facing UDP socket, on the address the client reached the server on.

    Its port is the kernel's choice, but not one of ``reserved`` (``bind_ports``)
    when another try can avoid it: the relay's own sockets must not take the ports
    binds are given from (the listening address is often the external one, and the
    kernel picks from a range that may hold ``bind_ports``). None when the system
    refuses a socket (e.g. out of file descriptors), which is logged.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    refused: list[socket.socket] = []
    try:
        for _ in range(_INSIDE_TRIES):
            inside = socket.socket(family, socket.SOCK_DGRAM)
            refused.append(inside)
            inside.bind((host, 0))
            port = inside.getsockname()[1]
            if reserved is None or not reserved[0] <= port <= reserved[1]:
                break
        refused.pop()
    except OSError as exc:
        logger.warning("cannot open a UDP relay socket on %s: %s", host, exc.strerror or exc)
        return None
    finally:
        for sock in refused:
            sock.close()
    inside.setblocking(False)
    return inside


def _expected_client(client: socket.socket, source: SocksAddress) -> Endpoint:
    """Where the client's datagrams must come from: its TCP peer IP, and the request's port.

    The request's port counts only when its address is unspecified or that
    same IP (another IP could aim the relay at a third party); port 0 means
    the first datagram fixes the port.
    """
    peer_ip = client.getpeername()[0]
    same = source.type is not AddressType.DOMAIN and source.host == peer_ip
    return peer_ip, source.port if same or source.is_unspecified else 0


async def _until_closed(loop: asyncio.AbstractEventLoop, client: socket.socket) -> None:
    """Wait for the TCP connection to end; anything the client sends on it is ignored."""
    with contextlib.suppress(OSError):
        while await loop.sock_recv(client, 4096):
            pass


class _Association:
    """The state both sockets of one association share, and the per-datagram work."""

    def __init__(
        self, engine: Engine, bind: Bind, expected: Endpoint, outside: socket.socket
    ) -> None:
        self._engine = engine
        self._bind = bind
        self._local = bind.address
        self._expected_ip, self._expected_port = expected
        self._outside_socket = outside
        self._v6 = ":" in self._local[0]
        self.client: Endpoint | None = expected if expected[1] else None
        self.inside: asyncio.DatagramTransport | None = None
        self.outside: asyncio.DatagramTransport | None = None
        self._tuned = False
        self._names: dict[str, str] = {}
        self._lookups: set[asyncio.Task[None]] = set()

    def close(self) -> None:
        """Close both transports and forget pending name look-ups."""
        for task in self._lookups:
            task.cancel()
        for transport in (self.inside, self.outside):
            if transport is not None:
                transport.close()

    def from_client(self, data: bytes, address: tuple[str, int]) -> None:
        """A datagram on the inside socket: check its source, unwrap it, send it out if allowed."""
        ip, port = address[0], address[1]
        client = self.client
        if client is None:
            if ip != self._expected_ip or (self._expected_port and port != self._expected_port):
                return
            self.client = (ip, port)
        elif ip != client[0] or port != client[1]:
            return
        try:
            header, payload = parse_datagram(data)
        except ProtocolError:
            return
        if header.fragmented:
            return
        target = header.address
        if target.type is AddressType.DOMAIN:
            self._send_to_name(target, bytes(payload))
        else:
            self._send_out((target.host, target.port), payload)

    def from_remote(self, data: bytes, address: tuple[str, int]) -> None:
        """A datagram on the outside socket: pass it to the client if the engine accepts it."""
        remote = (address[0], address[1])
        if not self._engine.datagram_in(self._local, remote).accepted:
            return
        if not self._tuned:
            self._tune()
        if self.client is not None and self.inside is not None:
            header = SocksAddress.from_ip(remote[0], remote[1])
            self.inside.sendto(build_datagram(header, data), self.client)

    def _send_out(self, remote: Endpoint, payload: bytes | memoryview) -> None:
        if (":" in remote[0]) != self._v6 or self.outside is None:
            return
        if self._engine.datagram_out(self._local, remote).accepted:
            self.outside.sendto(payload, remote)

    def _send_to_name(self, target: SocksAddress, payload: bytes) -> None:
        ip = self._names.get(target.host)
        if ip is not None:
            self._send_out((ip, target.port), payload)
            return
        task = asyncio.ensure_future(self._resolve_and_send(target, payload))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _resolve_and_send(self, target: SocksAddress, payload: bytes) -> None:
        family = socket.AF_INET6 if self._v6 else socket.AF_INET
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                target.host, target.port, family=family, type=socket.SOCK_DGRAM
            )
        except (OSError, UnicodeError):
            return
        if not infos:
            return
        ip = str(infos[0][4][0])
        if len(self._names) >= _MAX_NAMES:
            self._names.clear()
        self._names[target.host] = ip
        self._send_out((ip, target.port), payload)

    def _tune(self) -> None:
        """Apply ``INCREASE_RECEIVE_BUFFER`` once the bind has it (it is set when allowed).

        ``SO_RCVBUF`` is raised to ``RECEIVE_BUFFER``, never lowered: Linux's
        default is often larger already.
        """
        if self._bind.flags & _INCREASE:
            self._tuned = True
            sock = self._outside_socket
            with contextlib.suppress(OSError):
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < RECEIVE_BUFFER:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


class _Inside(asyncio.DatagramProtocol):
    """The client-facing socket."""

    def __init__(self, association: _Association) -> None:
        self._association = association

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._association.inside = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._association.from_client(data, addr)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (the client went away) are not fatal: the TCP connection decides."""


class _Outside(asyncio.DatagramProtocol):
    """The external socket: the UDP bind."""

    def __init__(self, association: _Association) -> None:
        self._association = association

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._association.outside = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._association.from_remote(data, addr)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors from remotes are ignored, as a firewall relay must."""
