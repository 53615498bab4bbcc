"""The rounds: every measurement of every target, and the figures they collect."""

from __future__ import annotations

import statistics
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

from .bind import BindFailure, bind_attempt
from .net import Endpoint, describe, recv_exactly
from .options import Options
from .origin import CHUNK, REQUEST, RESPONSE, Origin
from .sessions import SessionDriver, SessionRun, for_count, for_seconds
from .socks import SocksError, Target, open_stream

REFERENCE_PEERS = ("dante", "microsocks", "pproxy")


@dataclass
class Figures:
    """Everything measured for one target; lists hold one value per round."""

    target: Target
    mbps: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    setup_p50: list[float] = field(default_factory=list)
    setup_p99: list[float] = field(default_factory=list)
    bind_p50: list[float] = field(default_factory=list)
    bind_p99: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    down: str = ""
    transfer_stopped: bool = False
    bind_stopped: bool = False
    bind_must_pass: bool = True
    burst: SessionRun | None = None

    @property
    def is_peer(self) -> bool:
        """True for the reference peers and for direct: they set targets, they have none."""
        return self.target.endpoint is None or self.target.name in REFERENCE_PEERS


def probe(figures: Figures, origin: Origin, timeout: float) -> None:
    """One CONNECT session before anything else; a server that fails it is marked down."""
    try:
        with open_stream(figures.target, origin.echo, timeout) as sock:
            sock.sendall(REQUEST)
            recv_exactly(sock, len(RESPONSE))
    except (OSError, SocksError) as exc:
        figures.down = describe(exc)


def transfer(target: Target, dest: Endpoint, size: int, timeout: float, cap: float) -> float:
    """Seconds to receive ``size`` bytes from the bulk source."""
    buffer = memoryview(bytearray(CHUNK))
    with open_stream(target, dest, timeout) as sock:
        start = time.perf_counter()
        sock.sendall(struct.pack("!Q", size))
        remaining = size
        while remaining > 0:
            received = sock.recv_into(buffer)
            if not received:
                raise ConnectionError(f"closed after {size - remaining} bytes")
            remaining -= received
            if time.perf_counter() - start > cap:
                raise TimeoutError(f"slower than {size / cap / 1e6:.1f} MB/s")
        return time.perf_counter() - start


def measure_throughput(figures: Figures, origin: Origin, options: Options) -> None:
    """One transfer of ``--size`` bytes; the first failure stops this measurement."""
    if figures.transfer_stopped:
        return
    try:
        seconds = transfer(
            figures.target, origin.bulk, options.size, options.timeout, options.transfer_cap
        )
    except (OSError, SocksError) as exc:
        figures.transfer_stopped = True
        figures.notes.append(f"transfer failed: {describe(exc)}")
        return
    figures.mbps.append(options.size / seconds / 1e6)


def measure_rate(figures: Figures, origin: Origin, options: Options) -> None:
    """Sessions at ``--concurrency`` for ``--rate-seconds``."""
    driver = SessionDriver(figures.target, origin.echo, options.timeout)
    run = driver.run(options.concurrency, for_seconds(options.rate_seconds))
    figures.failures.update(run.failures)
    if run.latencies:
        figures.rate.append(run.rate)
        figures.setup_p50.append(statistics.median(run.latencies))
        figures.setup_p99.append(percentile99(run.latencies))


def measure_bind(figures: Figures, options: Options) -> None:
    """``--bind-attempts`` BINDs; a server that fails its very first one is not asked again."""
    samples: list[float] = []
    for _ in range(0 if figures.bind_stopped else options.bind_attempts):
        try:
            samples.append(bind_attempt(figures.target, options.timeout))
        except BindFailure as failure:
            if not samples and not figures.bind_p50:
                figures.bind_stopped = True
                figures.notes.append(bind_verdict(figures, failure, options))
                return
            figures.failures[f"BIND {failure}"] += 1
    if samples:
        figures.bind_p50.append(statistics.median(samples))
        figures.bind_p99.append(percentile99(samples))


def bind_verdict(figures: Figures, failure: BindFailure, options: Options) -> str:
    """What a BIND that never worked means for this server."""
    if failure.stage == "second reply" and failure.timed_out:
        figures.bind_must_pass = options.fwx_allow_all and figures.target.name.startswith("fwx")
        verdict = "FAILED" if figures.bind_must_pass else "held pending"
        return f"BIND {verdict}: no second reply within {options.timeout:g} s ({failure})"
    if "reply 0x07" in str(failure):
        figures.bind_must_pass = False
        return f"BIND not supported ({failure})"
    return f"BIND FAILED: {failure}"


def percentile99(samples: list[float]) -> float:
    """The 99th percentile (the sample itself when there is only one)."""
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def run(options: Options, origin: Origin) -> list[Figures]:
    """All rounds, round-robin over the targets, then the long run of sessions."""
    everyone = [Figures(Target("direct", None))] + [Figures(t) for t in options.targets]
    for figures in everyone:
        probe(figures, origin, options.timeout)
    alive = [figures for figures in everyone if not figures.down]
    for number in range(options.rounds):
        order = alive[number % len(alive) :] + alive[: number % len(alive)]
        print(f"round {number + 1}/{options.rounds}: {', '.join(f.target.name for f in order)}")
        for figures in order:
            measure_throughput(figures, origin, options)
        for figures in order:
            measure_rate(figures, origin, options)
        for figures in order:
            measure_bind(figures, options)
    for figures in alive if options.sessions else []:
        print(f"{options.sessions} sessions in a row: {figures.target.name}")
        driver = SessionDriver(figures.target, origin.echo, options.timeout)
        figures.burst = driver.run(options.concurrency, for_count(options.sessions))
    return everyone
