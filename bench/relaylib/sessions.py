"""Short CONNECT sessions over one epoll, and the ``more()`` policies that bound a run."""

from __future__ import annotations

import enum
import errno
import os
import select
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .net import Endpoint, describe, family_of
from .origin import REQUEST, RESPONSE
from .socks import (
    CMD_CONNECT,
    GREETING,
    SocksError,
    Target,
    check_method,
    encode_request,
    reply_rest_length,
)


@dataclass
class SessionRun:
    """Outcome of many sessions: rate, set-up latencies and failures by reason."""

    rate: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


class Stage(enum.IntEnum):
    """Where a short session is; each stage waits for ``NEEDS`` bytes (or for the connect)."""

    CONNECTING = 0
    METHOD = 1
    REPLY = 2
    RESPONSE = 3


NEEDS = {Stage.METHOD: 2, Stage.REPLY: 5, Stage.RESPONSE: len(RESPONSE)}


@dataclass
class Session:
    """One short session in flight."""

    sock: socket.socket
    started: float
    stage: Stage = Stage.CONNECTING
    received: bytes = b""
    setup: float = 0.0


class SessionDriver:
    """Short CONNECT sessions over one epoll: cheap enough not to be what is measured.

    An asyncio client costs about three times as much CPU per session as this, and on a small
    machine the client shares the CPUs with the server under test.
    """

    def __init__(self, target: Target, dest: Endpoint, timeout: float) -> None:
        self.first_hop = target.endpoint or dest
        self.family = family_of(self.first_hop[0])
        self.request = None if target.endpoint is None else encode_request(CMD_CONNECT, dest)
        self.timeout = timeout
        self.poller = select.epoll()
        self.live: dict[int, Session] = {}
        self.result = SessionRun()

    def run(self, concurrency: int, more: Callable[[], bool]) -> SessionRun:
        """Keep ``concurrency`` sessions in flight while ``more()`` says so."""
        start = next_sweep = time.perf_counter()
        while True:
            while len(self.live) < concurrency and more():
                self.launch()
            if not self.live:
                break
            for fd, _ in self.poller.poll(0.1):
                self.step(self.live[fd])
            if time.perf_counter() >= next_sweep:
                next_sweep = time.perf_counter() + 0.1
                self.sweep()
        self.poller.close()
        self.result.rate = len(self.result.latencies) / (time.perf_counter() - start)
        return self.result

    def launch(self) -> None:
        """Start one session: a non-blocking connect to the first hop."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(sock, time.perf_counter())
        self.live[sock.fileno()] = session
        self.poller.register(sock.fileno(), select.EPOLLOUT)
        error = sock.connect_ex(self.first_hop)
        if error not in (0, errno.EINPROGRESS):
            self.finish(session, os.strerror(error))

    def step(self, session: Session) -> None:
        """Move a session on after its socket became ready; failures end it."""
        try:
            if session.stage is Stage.CONNECTING:
                self.connected(session)
            else:
                self.receive(session)
        except (OSError, SocksError) as exc:
            self.finish(session, describe(exc))

    def connected(self, session: Session) -> None:
        """The TCP connect completed (or failed)."""
        error = session.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise ConnectionError(os.strerror(error))
        self.poller.modify(session.sock.fileno(), select.EPOLLIN)
        if self.request is None:
            self.send(session, Stage.RESPONSE, REQUEST)
        else:
            self.send(session, Stage.METHOD, GREETING)

    def receive(self, session: Session) -> None:
        """Read what arrived; act once the stage has all it waits for."""
        data = session.sock.recv(512)
        if not data:
            raise ConnectionError("closed early")
        session.received += data
        if len(session.received) < NEEDS[session.stage]:
            return
        if session.stage is Stage.METHOD:
            check_method(session.received)
            self.send(session, Stage.REPLY, self.request or b"")
        elif session.stage is Stage.REPLY:
            if len(session.received) >= 5 + reply_rest_length(session.received[:5]):
                self.send(session, Stage.RESPONSE, REQUEST)
        else:
            self.finish(session, None)

    def send(self, session: Session, stage: Stage, data: bytes) -> None:
        """Send a small message (it fits the empty socket buffer) and wait for the answer."""
        if stage is Stage.RESPONSE:
            session.setup = time.perf_counter() - session.started
        session.stage, session.received = stage, b""
        if session.sock.send(data) != len(data):
            raise ConnectionError("short send")

    def finish(self, session: Session, failure: str | None) -> None:
        """Close a session, counting it as failed when ``failure`` says why."""
        fd = session.sock.fileno()
        self.poller.unregister(fd)
        del self.live[fd]
        session.sock.close()
        if failure is None:
            self.result.latencies.append(session.setup)
        else:
            self.result.failures[failure] += 1

    def sweep(self) -> None:
        """End the sessions that have run longer than the time-out."""
        oldest = time.perf_counter() - self.timeout
        for session in [s for s in self.live.values() if s.started < oldest]:
            self.finish(session, "time-out")


def for_seconds(seconds: float) -> Callable[[], bool]:
    """A ``more()`` that says yes until ``seconds`` have passed."""
    deadline = time.perf_counter() + seconds
    return lambda: time.perf_counter() < deadline


def for_count(count: int) -> Callable[[], bool]:
    """A ``more()`` that says yes ``count`` times."""
    tickets = iter(range(count))
    return lambda: next(tickets, None) is not None
