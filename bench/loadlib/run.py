"""One load run: warm up, measure the baseline, then rounds of open, hold, knock, close, measure.

Each round opens ``connections`` relaying CONNECT sessions and ``binds``
held binds (a ``udp_share`` of them UDP ASSOCIATE, the rest BIND), then for
``seconds`` keeps the relays exchanging, knocks on every bind at
``knock_rate`` and (optionally) times the console. Then it checks the
engine's discard counters against the knocks, closes everything and reads
the service's descriptors and memory until they settle.

The service's file descriptors are the limit of what fits: each relay holds
2, each BIND 2, each UDP ASSOCIATE 3, and one process may hold no more than
the hard ``RLIMIT_NOFILE`` (which only CAP_SYS_RESOURCE can raise).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.control.remote import RemoteControl
from engine.socks.server import ServerOptions

from .clients import BIND, UDP_ASSOCIATE, Hold, Relay, Tally
from .echo import EchoProcess
from .knock import Knocker, Target, sources
from .probe import ProbeProcess
from .service import ServiceProcess, ServiceSpec, raise_fd_limit

__all__ = ["LoadOptions", "LoadResult", "RoundResult", "Sample", "fds_needed", "run_load"]

ECHO_GUID = uuid.UUID("a5b2c3d4-0000-4000-8000-00000000e140")
BINDS_PER_SESSION = 100
"""Held binds per client address (one session each), under ``max_binds_per_session``."""
FD_HEADROOM = 150
"""Descriptors besides the load's: listener, admin and audit files, knocks being reset."""
SETTLE_WAIT = 60.0
"""Seconds the service gets to close everything, or to count every knock."""
_OPENING = 200
_SAMPLE_EVERY = 0.5


@dataclass(frozen=True)
class LoadOptions:
    """How much load, for how long."""

    connections: int = 2000
    binds: int = 7000
    udp_share: float = 0.25
    seconds: float = 60.0
    knock_rate: float = 500.0
    exchange_size: int = 4096
    interval: float = 1.0
    rounds: int = 1
    linger: float = 5.0
    probe: bool = True
    tui: bool = True
    audit: bool = True

    @property
    def udp_binds(self) -> int:
        """How many of the binds are UDP ASSOCIATE."""
        return round(self.binds * self.udp_share)

    @property
    def tcp_binds(self) -> int:
        """How many of the binds are BIND."""
        return self.binds - self.udp_binds


def fds_needed(options: LoadOptions) -> int:
    """Descriptors the service needs for this load (2 a relay, 2 a BIND, 3 a UDP ASSOCIATE)."""
    return 2 * options.connections + 2 * options.tcp_binds + 3 * options.udp_binds + FD_HEADROOM


@dataclass(frozen=True)
class Sample:
    """The service's open descriptors and resident memory at one moment."""

    fds: int
    rss_kib: int


@dataclass
class RoundResult:
    """What one round did and measured."""

    open_seconds: float = 0.0
    live_connections: int = 0
    live_binds: int = 0
    relays: Tally = field(default_factory=Tally)
    holds: Tally = field(default_factory=Tally)
    knocks: int = 0
    knock_resets: int = 0
    knock_failures: Counter[str] = field(default_factory=Counter)
    tcp_knocks: int = 0
    discards: int = 0
    accepted: int = 0
    miscounted_binds: int = 0
    peak: Sample = Sample(0, 0)
    closed: Sample = Sample(0, 0)
    close_seconds: float = 0.0
    later: Sample = Sample(0, 0)
    trimmed: Sample = Sample(0, 0)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    first_listing: float | None = None
    service_cpu: float = 0.0
    """The service's CPU time during the hold, as a share of one core."""
    loop_lags: list[float] = field(default_factory=list)


@dataclass
class LoadResult:
    """The whole run: its options, the baseline, every round, what the service logged."""

    options: LoadOptions
    fd_limit: int
    baseline: Sample = Sample(0, 0)
    rounds: list[RoundResult] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)


def rules_text(echo_port: int, options: LoadOptions) -> str:
    """Outbound TCP to the echo port allowed to everyone; every bind stays pending for the run."""
    timeout = options.rounds * (options.seconds + 600) + 3600
    return f"""\
version = 1

[service]
listen = "127.0.0.1:0"
external = "127.0.0.1"
pending_bind_timeout = {timeout:.0f}
max_binds_per_session = {BINDS_PER_SESSION}

[[protocol]]
name = "Echo"
guid = "{ECHO_GUID}"
primary = {{ port = {echo_port}, transport = "tcp", direction = "outbound" }}

[[rule]]
name = "everyone may reach the echo server"
action = "allow"
protocols = ["Echo"]
users = ["any"]
clients = ["any"]
"""


def client_address(number: int) -> str:
    """The source address of held bind ``number``: 127.0.1.1 onwards, one per session."""
    session = number // BINDS_PER_SESSION
    return f"127.0.{1 + session // 250}.{1 + session % 250}"


async def run_load(options: LoadOptions, folder: Path) -> LoadResult:
    """Run the load against a fresh service whose files go in ``folder``."""
    saved = raise_fd_limit()
    result = LoadResult(options, saved[1])
    try:
        with EchoProcess() as echo:
            spec = ServiceSpec(
                rules_text(echo.port, options),
                ServerOptions(
                    max_connections=options.connections + options.binds + 1024,
                    max_sessions=4096,
                ),
                audit=options.audit,
            )
            service = ServiceProcess(spec, folder)
            with service:
                async with RemoteControl(service.socket_path) as control:
                    await _Round(_warm_up(options), service, control, echo).run()
                    result.baseline = await _settled(service, control, None)
                    for _ in range(options.rounds):
                        one = _Round(options, service, control, echo, result.baseline)
                        result.rounds.append(await one.run())
                result.logged = await asyncio.to_thread(service.stop)
    finally:
        raise_fd_limit(saved[0])
    return result


def _warm_up(options: LoadOptions) -> LoadOptions:
    """A small round first, so what the service opens only once (audit WAL) is in the baseline."""
    return LoadOptions(
        connections=min(20, options.connections),
        binds=min(40, options.binds),
        udp_share=0.5,
        seconds=0.5,
        knock_rate=100.0,
        rounds=1,
        linger=0.0,
        probe=False,
        tui=False,
        audit=options.audit,
    )


class _Round:
    """One round: open, hold (relays exchanging, knocks, console probes), count, close, measure."""

    def __init__(
        self,
        options: LoadOptions,
        service: ServiceProcess,
        control: RemoteControl,
        echo: EchoProcess,
        baseline: Sample | None = None,
    ) -> None:
        self._options = options
        self._service = service
        self._control = control
        self._echo = echo
        self._baseline = baseline
        self._result = RoundResult()
        self._peak = Sample(0, 0)

    async def run(self) -> RoundResult:
        result = self._result
        sampling = asyncio.Event()
        sampler = asyncio.ensure_future(self._sample(sampling))
        try:
            relays, holds = await self._open()
            status = await self._control.status()
            result.live_connections, result.live_binds = status.connections, status.binds
            knocker = Knocker(await self._targets(), sources(), self._options.knock_rate)
            await self._hold(relays, knocker)
            await self._count_discards(knocker)
            await asyncio.gather(*(hold.close() for hold in holds))
        finally:
            sampling.set()
            await sampler
        result.peak = self._peak
        started = time.monotonic()
        result.closed = await _settled(self._service, self._control, self._baseline)
        result.close_seconds = time.monotonic() - started
        await asyncio.sleep(self._options.linger)
        result.later = _sample(self._service)
        await asyncio.to_thread(self._service.trim)
        result.trimmed = _sample(self._service)
        return result

    async def _open(self) -> tuple[list[Relay], list[Hold]]:
        options, result = self._options, self._result
        proxy = self._service.address
        slots = asyncio.Semaphore(_OPENING)
        relays = [
            Relay(result.relays, options.exchange_size, options.interval)
            for _ in range(options.connections)
        ]
        holds = [Hold(result.holds, BIND) for _ in range(options.tcp_binds)]
        holds += [Hold(result.holds, UDP_ASSOCIATE) for _ in range(options.udp_binds)]

        async def limited(step: Callable[[], Awaitable[bool]]) -> bool:
            async with slots:
                return await step()

        steps: list[Callable[[], Awaitable[bool]]] = [
            functools.partial(relay.open, proxy, "127.0.0.1", self._echo.address)
            for relay in relays
        ]
        steps += [
            functools.partial(hold.open, proxy, client_address(n)) for n, hold in enumerate(holds)
        ]
        started = time.monotonic()
        await asyncio.gather(*(limited(step) for step in _interleave(steps, len(relays))))
        result.open_seconds = time.monotonic() - started
        return relays, holds

    async def _targets(self) -> list[Target]:
        binds = await self._control.binds()
        return [Target(b.id, b.transport, b.host, b.port) for b in binds if b.state == "pending"]

    async def _hold(self, relays: list[Relay], knocker: Knocker) -> None:
        options, result, service = self._options, self._result, self._service
        stop = asyncio.Event()
        await asyncio.to_thread(service.lags)
        cpu, started = service.cpu_seconds(), time.monotonic()
        running = [asyncio.ensure_future(relay.run(stop)) for relay in relays]
        knocking = asyncio.ensure_future(knocker.run(stop))
        probes = [
            ProbeProcess(service.socket_path, job, expected_rows=result.live_binds)
            for job in (("status", "binds") if options.probe else ())
            + (("tui",) if options.tui else ())
        ]
        try:
            ready = await asyncio.gather(*(asyncio.to_thread(probe.start) for probe in probes))
            result.first_listing = ready[-1] if options.tui else None
            await asyncio.sleep(max(0.0, options.seconds - (time.monotonic() - started)))
        finally:
            stopped = await asyncio.gather(
                *(asyncio.to_thread(probe.stop) for probe in probes), return_exceptions=True
            )
            result.service_cpu = (service.cpu_seconds() - cpu) / (time.monotonic() - started)
            result.loop_lags = await asyncio.to_thread(service.lags)
            stop.set()
            await asyncio.gather(*running, knocking)
        for probe, latencies in zip(probes, stopped, strict=True):
            if isinstance(latencies, BaseException):
                raise latencies
            result.latencies[probe.job] = latencies

    async def _count_discards(self, knocker: Knocker) -> None:
        """Wait until the engine counted every knock (or ``SETTLE_WAIT`` passed); record both."""
        result = self._result
        delivered = knocker.delivered
        result.knocks = knocker.sent
        result.knock_resets = knocker.resets
        result.knock_failures = knocker.failures
        deadline = time.monotonic() + SETTLE_WAIT
        while True:
            binds = await self._control.binds()
            counted = {b.id: b.discarded_total for b in binds}
            wrong = [
                bind_id
                for bind_id in counted.keys() | delivered.keys()
                if counted.get(bind_id, 0) != delivered.get(bind_id, 0)
            ]
            if not wrong or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        result.discards = sum(counted.values())
        result.accepted = sum(b.accepted for b in binds)
        result.miscounted_binds = len(wrong)
        transports = {b.id: b.transport for b in binds}
        result.tcp_knocks = sum(
            count for bind_id, count in delivered.items() if transports.get(bind_id) == "tcp"
        )

    async def _sample(self, done: asyncio.Event) -> None:
        while not done.is_set():
            now = _sample(self._service)
            self._peak = Sample(max(self._peak.fds, now.fds), max(self._peak.rss_kib, now.rss_kib))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), _SAMPLE_EVERY)


def _interleave(
    steps: list[Callable[[], Awaitable[bool]]], first: int
) -> list[Callable[[], Awaitable[bool]]]:
    """Relays and holds mixed, so both kinds open throughout the opening phase."""
    relays, holds = steps[:first], steps[first:]
    mixed: list[Callable[[], Awaitable[bool]]] = []
    ratio = max(1, len(holds) // max(1, len(relays)))
    for index, relay in enumerate(relays):
        mixed.append(relay)
        mixed += holds[index * ratio : (index + 1) * ratio]
    mixed += holds[len(relays) * ratio :]
    return mixed


def _sample(service: ServiceProcess) -> Sample:
    return Sample(service.fds(), service.rss_kib())


async def _settled(
    service: ServiceProcess, control: RemoteControl, baseline: Sample | None
) -> Sample:
    """Once the service holds no connection and no bind, and its descriptors are back down.

    "Back down" is ``baseline`` when given; without one, two equal readings in a row.
    Gives up after ``SETTLE_WAIT`` and returns what it reads then.
    """
    deadline = time.monotonic() + SETTLE_WAIT
    previous = -1
    while time.monotonic() < deadline:
        status = await control.status()
        fds = service.fds()
        if status.connections == 0 and status.binds == 0:
            if (baseline is None and fds == previous) or (baseline and fds <= baseline.fds):
                break
            previous = fds
        await asyncio.sleep(0.2)
    return _sample(service)
