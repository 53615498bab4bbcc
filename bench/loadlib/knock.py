"""Remotes knocking on pending binds: TCP connection attempts and UDP datagrams at a steady rate.

Knocks come from many loopback addresses (127.0.0.3 .. 127.0.0.250 by
default) and go round-robin over the targets, so every bind gets its share.
A knock counts as delivered when the service had to see it: a TCP attempt
once its connection is established (the service then accepts it, asks the
engine, and resets it), a UDP datagram once it is sent. Every delivered
knock must show up in the engine's discard counters of that bind.

A TCP knock also checks what a discarded attempt must see: a reset or a
close, never a byte. The rate is a target: at most 256 TCP knocks are in
flight, so a slow service (or a busy machine) gets fewer, and the report
gives the rate delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Final

__all__ = ["Knocker", "Target", "sources"]

_IP_BIND_ADDRESS_NO_PORT: Final = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_TICK: Final = 0.01
_IN_FLIGHT: Final = 256
_TIMEOUT: Final = 10.0
_PAYLOAD: Final = b"knock"


@dataclass(frozen=True)
class Target:
    """A bind to knock on: the engine's bind id, its transport and external address."""

    bind_id: int
    transport: str
    host: str
    port: int


def sources(first: int = 3, last: int = 250) -> list[str]:
    """The remotes' addresses, 127.0.0.``first`` .. 127.0.0.``last``."""
    return [f"127.0.0.{n}" for n in range(first, last + 1)]


class Knocker:
    """Knocks on ``targets`` at ``rate`` a second until stopped; counts what it delivered."""

    def __init__(self, targets: list[Target], remotes: list[str], rate: float) -> None:
        self._targets = targets
        self._remotes = remotes
        self._rate = rate
        self.delivered: Counter[int] = Counter()
        self.failures: Counter[str] = Counter()
        self.resets = 0
        self._udp: dict[str, socket.socket] = {}
        self._slots = asyncio.Semaphore(_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def sent(self) -> int:
        """Knocks delivered so far."""
        return sum(self.delivered.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Knock steadily until ``stop`` is set, then wait for the knocks under way."""
        if not self._targets or self._rate <= 0:
            await stop.wait()
            return
        started = time.monotonic()
        number = 0
        try:
            while not stop.is_set():
                due = int((time.monotonic() - started) * self._rate)
                while number < due and not stop.is_set():
                    await self._knock(number)
                    number += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _TICK)
            if self._tasks:
                await asyncio.wait(set(self._tasks))
        finally:
            for sock in self._udp.values():
                sock.close()
            self._udp.clear()

    async def _knock(self, number: int) -> None:
        target = self._targets[number % len(self._targets)]
        remote = self._remotes[number % len(self._remotes)]
        if target.transport == "udp":
            self._datagram(target, remote)
            return
        await self._slots.acquire()
        task = asyncio.ensure_future(self._connect(target, remote))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _datagram(self, target: Target, remote: str) -> None:
        sock = self._udp.get(remote)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind((remote, 0))
            self._udp[remote] = sock
        try:
            sock.sendto(_PAYLOAD, (target.host, target.port))
        except OSError as exc:
            self.failures[f"udp send: {exc.strerror}"] += 1
            return
        self.delivered[target.bind_id] += 1

    async def _connect(self, target: Target, remote: str) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((remote, 0))
            async with asyncio.timeout(_TIMEOUT):
                try:
                    await loop.sock_connect(sock, (target.host, target.port))
                except ConnectionResetError:
                    # Established, then reset before this loop saw the connect complete.
                    self._discarded(target)
                    return
                data = await loop.sock_recv(sock, 1)
            self.delivered[target.bind_id] += 1
            if data:
                self.failures["tcp: the discarded attempt got data"] += 1
            else:
                self.resets += 1
        except ConnectionResetError:
            self._discarded(target)
        except TimeoutError:
            self.failures["tcp: time-out"] += 1
        except OSError as exc:
            self.failures[f"tcp: {exc.strerror}"] += 1
        finally:
            sock.close()
            self._slots.release()

    def _discarded(self, target: Target) -> None:
        """A TCP knock that was established and reset: what a discarded attempt sees."""
        self.delivered[target.bind_id] += 1
        self.resets += 1
