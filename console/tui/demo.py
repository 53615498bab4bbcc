"""`fwx console --demo`: real SOCKS traffic on loopback, so a newcomer sees binds at once.

Four clients on ``127.0.0.10`` … each keep a BIND and a UDP association
open through the service and now and then CONNECT to a small echo server.
Binds get one of the four external ports 40000-40003; the demo rules approve
a bind on 40000 or 40001 at bind time (protocols whose primary connection is
inbound there, R11), so with four clients per transport exactly two binds of
each transport start allowed and two wait for the operator. Remote peers on
``127.0.0.20`` … knock on every bind: their attempts are discarded (and
counted) while the bind is pending or they are outside its IP filter, and
get through, with bytes flowing both ways, once it is allowed. Everything
runs on its own thread and loop and stops with the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from console.control.interface import Control
from console.tui.demo_client import open_socks, read_reply, request
from engine.socks import Command, build_datagram, parse_datagram
from rules.loader import loads
from rules.model import (
    Action,
    Direction,
    IpFilterSet,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    SecondaryConnection,
    Transport,
)
from rules.saver import save
from rules.starter import STARTER_TEXT

__all__ = [
    "APPROVED_PORTS",
    "BIND_PORTS",
    "CLIENTS",
    "ECHO",
    "PEERS",
    "Demo",
    "demo_ruleset",
    "write_demo_rules",
]

CLIENTS = tuple(f"127.0.0.{host}" for host in range(10, 14))
"""The demo's SOCKS clients: one session each."""
PEERS = ("127.0.0.20", "127.0.0.21", "127.0.0.22")
"""Remote hosts that knock on binds; the "demo peers" set admits the first two."""
ECHO = ("127.0.0.30", 47007)
"""The echo server the clients CONNECT to."""
BIND_PORTS = (40000, 40003)
"""The external ports binds get: as many as there are clients, half of them approved at once."""
APPROVED_PORTS = (40000, 40001)
"""Ports whose binds the demo rules approve at bind time."""

_ERRORS = (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError, ValueError)


def _guid(number: int) -> uuid.UUID:
    return uuid.UUID(f"d3e00000-0000-4000-8000-{number:012x}")


def _demo_protocols() -> tuple[ProtocolDefinition, ...]:
    at_bind_time = tuple(
        ProtocolDefinition(
            _guid(port + offset),
            f"demo {kind} {port}",
            PrimaryConnection(port, transport, direction),
            description=f"demo: a {transport.label} bind on port {port} is approved at once (R11)",
        )
        for kind, transport, direction, offset in (
            ("call-back", Transport.TCP, Direction.INBOUND, 0),
            ("media", Transport.UDP, Direction.RECEIVE_SEND, 0x100000),
        )
        for port in APPROVED_PORTS
    )
    callback = ProtocolDefinition(
        _guid(1),
        "demo call-back",
        PrimaryConnection(ECHO[1], Transport.TCP, Direction.OUTBOUND),
        (SecondaryConnection(*BIND_PORTS, Transport.TCP, Direction.INBOUND),),
        description="demo: pick it to allow a pending TCP bind",
    )
    media = ProtocolDefinition(
        _guid(2),
        "demo media",
        PrimaryConnection(ECHO[1] + 1, Transport.UDP, Direction.SEND_RECEIVE),
        (SecondaryConnection(*BIND_PORTS, Transport.UDP, Direction.RECEIVE),),
        description="demo: pick it to allow a pending UDP bind",
    )
    return (*at_bind_time, callback, media)


def demo_ruleset() -> RuleSet:
    """The starter rules plus the demo's protocols, peers set, rule and bind ports."""
    base = loads(STARTER_TEXT, "<starter>")
    protocols = _demo_protocols()
    rule = ProtocolRule(
        name="demo: call-backs and media for the lan",
        action=Action.ALLOW,
        protocols=tuple(proto.name for proto in protocols),
        clients=("lan",),
        description="demo: lets the demo clients use the demo protocols",
    )
    peers = IpFilterSet(
        "demo peers", (f"{PEERS[0]}-{PEERS[1]}",), description="demo: two of the three peers"
    )
    return dataclasses.replace(
        base,
        service=dataclasses.replace(base.service, bind_ports=BIND_PORTS),
        protocols=(*base.protocols, *protocols),
        ip_filters=(*base.ip_filters, peers),
        rules=(*base.rules, rule),
    )


def write_demo_rules(folder: Path) -> Path:
    """Write the demo rule file in ``folder`` and return its path."""
    path = folder / "fwx-demo.toml"
    save(demo_ruleset(), path)
    return path


class Demo:
    """The traffic generator; :meth:`start` it after the service, :meth:`stop` before."""

    def __init__(self, control: Control, proxy: tuple[str, int]) -> None:
        """Traffic through the SOCKS service at ``proxy``; binds are found through ``control``."""
        self._control = control
        self._proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fwx-demo", daemon=True)
        self._main: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start generating traffic in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop every client and peer and wait for the thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._cancel)
            self._thread.join(timeout=10)

    def _cancel(self) -> None:
        if self._main is not None:
            self._main.cancel()

    def _run(self) -> None:
        self._main = self._loop.create_task(self._traffic())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._main)
        self._loop.close()

    async def _traffic(self) -> None:
        server = await asyncio.start_server(_echo, *ECHO)
        tasks = [asyncio.create_task(self._knock())]
        for client in CLIENTS:
            tasks.append(asyncio.create_task(_forever(self._tcp_bind, client)))
            tasks.append(asyncio.create_task(_forever(self._udp_associate, client)))
            tasks.append(asyncio.create_task(_forever(self._connect, client)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            server.close()

    async def _tcp_bind(self, client: str) -> None:
        """Keep a BIND open; once a peer gets through, echo its bytes for a while, then rebind."""
        reader, writer = await open_socks(self._proxy, client)
        try:
            await request(reader, writer, Command.BIND, ("0.0.0.0", 0))
            await read_reply(reader)
            await _echo_for(reader, writer, seconds=8.0)
        finally:
            writer.close()

    async def _udp_associate(self, client: str) -> None:
        """Keep a UDP association open and echo what remote peers send through it."""
        reader, writer = await open_socks(self._proxy, client)
        relay_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        relay_socket.bind((client, 0))
        relay_socket.setblocking(False)
        closed: asyncio.Future[bytes] | None = None
        try:
            local = relay_socket.getsockname()
            relay = await request(reader, writer, Command.UDP_ASSOCIATE, local)
            closed = asyncio.ensure_future(reader.read())
            loop = asyncio.get_running_loop()
            while not closed.done():
                data = await asyncio.wait_for(loop.sock_recv(relay_socket, 2048), 30)
                header, payload = parse_datagram(data)
                reply = build_datagram(header.address, b"echo " + bytes(payload))
                await loop.sock_sendto(relay_socket, reply, relay)
        finally:
            if closed is not None:
                closed.cancel()
            relay_socket.close()
            writer.close()

    async def _connect(self, client: str) -> None:
        """CONNECT to the echo server, exchange a line, close; every few seconds."""
        await asyncio.sleep(3.0)
        reader, writer = await open_socks(self._proxy, client)
        try:
            await request(reader, writer, Command.CONNECT, ECHO)
            writer.write(b"hello\n")
            await asyncio.wait_for(reader.readline(), 5)
        finally:
            writer.close()

    async def _knock(self) -> None:
        """Every second, one peer knocks on each demo bind (peers take turns)."""
        peers = itertools.cycle(PEERS)
        udp = {peer: _udp_socket(peer) for peer in PEERS}
        talks: set[asyncio.Task[None]] = set()
        try:
            while True:
                await asyncio.sleep(1.0)
                with contextlib.suppress(*_ERRORS):
                    for bind in await self._control.binds():
                        if bind.client in CLIENTS and bind.state in ("pending", "allowed"):
                            peer = next(peers)
                            target = (bind.host, bind.port)
                            if bind.transport == "udp":
                                udp[peer].sendto(f"knock from {peer}".encode(), target)
                            else:
                                talk = asyncio.create_task(_knock_tcp(peer, target))
                                talks.add(talk)
                                talk.add_done_callback(talks.discard)
        finally:
            for talk in list(talks):
                talk.cancel()
            for sock in udp.values():
                sock.close()


def _udp_socket(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.setblocking(False)
    return sock


async def _forever(step: Callable[[str], Awaitable[None]], client: str) -> None:
    """Run ``step(client)`` again and again; a failed attempt waits a moment and retries."""
    while True:
        try:
            await step(client)
        except _ERRORS:
            await asyncio.sleep(1.0)


async def _knock_tcp(peer: str, target: tuple[str, int]) -> None:
    """Connect from ``peer``; if the bind lets it through, talk for a few seconds."""
    with contextlib.suppress(*_ERRORS):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(*target, local_addr=(peer, 0)), 5
        )
        try:
            for number in range(5):
                writer.write(f"peer {peer} line {number}\n".encode())
                await asyncio.wait_for(reader.readline(), 5)
                await asyncio.sleep(1.0)
        finally:
            writer.close()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The echo server: send every line back."""
    with contextlib.suppress(*_ERRORS):
        await _echo_for(reader, writer, seconds=10.0)
    writer.close()


async def _echo_for(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float
) -> None:
    """Echo lines back until the peer stops or ``seconds`` pass."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while line := await reader.readline():
                writer.write(b"echo " + line)
                await writer.drain()
