"""The short version of ``bench/load.py``: relays, held binds and knocks, then nothing left behind.

One service (in its own process, with admin socket and audit log) holds 200
CONNECT sessions relaying to an echo server on 127.0.0.2 and 1,000 pending
binds (750 BIND, 250 UDP ASSOCIATE) from 10 client addresses for a few
seconds, while remotes on 127.0.0.3 .. 127.0.0.250 knock on every bind (TCP
attempts and UDP datagrams). Then:

- every relayed byte came back intact, and nothing failed or was reset;
- the engine counted every knock as a discard of the bind it was aimed at
  (R12, R102), and accepted none;
- once everything is closed, the service holds exactly the descriptors it
  held before the load (a warm-up round has opened what it opens once: the
  audit log's WAL, for example). No slack is allowed.

The load generator is the benchmark's own (``bench/loadlib``), so the test
keeps the benchmark honest too.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from bench.loadlib.report import verdicts
from bench.loadlib.run import LoadOptions, LoadResult, RoundResult, Sample, run_load

SHORT = LoadOptions(
    connections=200,
    binds=1000,
    udp_share=0.25,
    seconds=3.0,
    knock_rate=400.0,
    exchange_size=4096,
    interval=0.25,
    rounds=1,
    linger=0.5,
    probe=False,
    tui=False,
)


def _run(options: LoadOptions) -> LoadResult:
    folder = Path(tempfile.mkdtemp(prefix="fwx-load-", dir="/tmp"))
    try:
        return asyncio.run(run_load(options, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_r12_r102_load_keeps_every_byte_counts_every_knock_and_leaks_no_fd() -> None:
    """R12, R102: under load every knock on a pending bind is discarded and counted."""
    result = _run(SHORT)
    [one] = result.rounds

    assert one.relays.opened == SHORT.connections
    assert one.relays.failures == {}, "a relay failed or was reset"
    assert one.relays.exchanges >= SHORT.connections
    assert one.relays.mismatches == 0
    assert one.relays.bytes_back == one.relays.bytes_out > 0

    assert one.holds.opened == SHORT.binds
    assert one.holds.failures == {}, "a held bind was answered or closed by the service"
    assert one.live_binds == SHORT.binds

    assert 0 < one.tcp_knocks < one.knocks, "knocks of both kinds"
    assert one.knock_failures == {}
    assert one.knock_resets == one.tcp_knocks, "every TCP knock sees a reset, never a byte"
    assert one.miscounted_binds == 0
    assert one.discards == one.knocks
    assert one.accepted == 0

    assert one.peak.fds > result.baseline.fds + 2 * SHORT.connections + 2 * SHORT.binds
    assert one.closed.fds == result.baseline.fds
    assert one.later.fds == result.baseline.fds
    assert [line for line in result.logged if line.startswith("error")] == []


def _round(baseline: Sample, closed_fds: int, trimmed_kib: int) -> RoundResult:
    """A round as the load run records it, with every check passing but fds and RSS as given."""
    one = RoundResult(knocks=10, tcp_knocks=6, discards=10, knock_resets=6)
    one.relays.opened, one.holds.opened = SHORT.connections, SHORT.binds
    one.relays.bytes_out = one.relays.bytes_back = 1000
    one.peak = Sample(baseline.fds + 5000, baseline.rss_kib + 100_000)
    one.closed = one.later = Sample(closed_fds, trimmed_kib)
    one.trimmed = Sample(closed_fds, trimmed_kib)
    return one


def test_the_verdicts_fail_a_leaked_descriptor_and_rss_that_stays_up() -> None:
    """The benchmark's verdicts are not decoration: each leak fails its own check."""
    baseline = Sample(17, 30_000)
    result = LoadResult(SHORT, 20_000, baseline)
    result.rounds = [_round(baseline, 17, 40_000)]
    assert [v.what for v in verdicts(result) if not v.held] == []
    result.rounds = [_round(baseline, 18, 40_000)]
    assert [v.what for v in verdicts(result) if not v.held] == ["round 1: fds back to baseline"]
    result.rounds = [_round(baseline, 17, 80_000)]
    [failed] = [v.what for v in verdicts(result) if not v.held]
    assert failed.startswith("round 1: RSS back within baseline")
    result.rounds = [_round(baseline, 17, 40_000), _round(baseline, 17, 50_000)]
    [failed] = [v.what for v in verdicts(result) if not v.held]
    assert failed.startswith("round 2: RSS does not grow")
