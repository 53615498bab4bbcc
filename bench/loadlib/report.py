"""The load run as a table of figures, and the verdicts: no leak, every knock counted, no loss."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .run import LoadResult, RoundResult, Sample

__all__ = ["ROUND_MARGIN", "RSS_MARGIN", "Verdict", "render", "verdicts"]

RSS_MARGIN = 0.35
"""After closing, ``gc`` and ``malloc_trim``, RSS may exceed the baseline by this share of the
round's peak growth: CPython keeps partly used arenas and the engine keeps bounded caches
(~20% of the growth at 9,000 connections). Keeping everything would be 100%."""
ROUND_MARGIN = 0.05
"""Later rounds must end within this share of round 1's peak growth of round 1's end: a leak of
1 KB per connection or bind breaks it at the default counts."""


@dataclass(frozen=True)
class Verdict:
    """One check of the run: what, whether it held, the figures behind it."""

    what: str
    held: bool
    figures: str


def _mb(kib: int) -> str:
    return f"{kib / 1024:,.1f}"


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (
        f"{1000 * statistics.median(values):,.1f} / {1000 * p99:,.1f} / "
        f"{1000 * ordered[-1]:,.1f} ms (n={len(values)})"
    )


def _failures(tally_failures: dict[str, int]) -> str:
    if not tally_failures:
        return "none"
    return ", ".join(f"{reason}: {count}" for reason, count in sorted(tally_failures.items()))


def _memory_rows(baseline: Sample, rounds: list[RoundResult]) -> list[str]:
    rows = [
        f"  {'':<34}{'fds':>10}{'RSS MB':>10}",
        _sample_row("baseline (idle, warmed up)", baseline),
    ]
    for number, one in enumerate(rounds, 1):
        rows += [
            _sample_row(f"round {number}: peak under load", one.peak),
            _sample_row(f"round {number}: all closed ({one.close_seconds:.1f} s)", one.closed),
            _sample_row(f"round {number}: a few seconds later", one.later),
            _sample_row(f"round {number}: after gc + malloc_trim", one.trimmed),
        ]
    return rows


def _sample_row(label: str, sample: Sample) -> str:
    return f"  {label:<34}{sample.fds:>10,}{_mb(sample.rss_kib):>10}"


def _round_rows(number: int, one: RoundResult, result: LoadResult) -> list[str]:
    options = result.options
    opened = one.relays.opened + one.holds.opened
    rate = opened / one.open_seconds if one.open_seconds else 0.0
    mb_out, mb_back = one.relays.bytes_out / 1e6, one.relays.bytes_back / 1e6
    rows = [
        f"round {number}",
        f"  opened             {opened:,} SOCKS requests in {one.open_seconds:.1f} s "
        f"({rate:,.0f}/s); the service then held {one.live_connections:,} connections, "
        f"{one.live_binds:,} binds",
        f"  relays             {one.relays.opened:,}/{options.connections:,} open, "
        f"{one.relays.exchanges:,} echo exchanges, {mb_out:,.1f} MB out, {mb_back:,.1f} MB back, "
        f"{one.relays.mismatches} mismatched; failures: {_failures(one.relays.failures)}",
        f"  binds held         {one.holds.opened:,}/{options.binds:,} "
        f"({options.tcp_binds:,} BIND, {options.udp_binds:,} UDP ASSOCIATE); "
        f"failures: {_failures(one.holds.failures)}",
        f"  knocks             {one.knocks:,} delivered ({one.knocks / options.seconds:,.0f}/s; "
        f"{one.tcp_knocks:,} TCP, "
        f"{one.knocks - one.tcp_knocks:,} UDP) from {len(range(3, 251))} remotes; "
        f"engine counted {one.discards:,} discards, {one.accepted} accepted; "
        f"{one.miscounted_binds} binds miscounted; TCP knocks reset: {one.knock_resets:,}; "
        f"failures: {_failures(one.knock_failures)}",
    ]
    rows += [
        f"  relay round trip   {_ms(one.relays.round_trips)}  (p50 / p99 / max)",
        f"  service            {one.service_cpu:.0%} of a core during the hold; event loop late "
        f"by {_ms(one.loop_lags)}",
    ]
    if one.latencies:
        listing = "-" if one.first_listing is None else f"{one.first_listing:.2f} s"
        rows += [
            "  console (p50 / p99 / max)",
            f"    status call      {_ms(one.latencies.get('status', []))}",
            f"    binds listing    {_ms(one.latencies.get('binds', []))}",
            f"    key press shown  {_ms(one.latencies.get('tui', []))}",
            f"    console attach   first listing of {one.live_binds:,} binds shown in {listing}",
        ]
    return rows


def verdicts(result: LoadResult) -> list[Verdict]:
    """The run's checks, each with the figures it rests on."""
    options, baseline = result.options, result.baseline
    found: list[Verdict] = []
    for number, one in enumerate(result.rounds, 1):
        growth = max(0, one.peak.rss_kib - baseline.rss_kib)
        allowed = baseline.rss_kib + RSS_MARGIN * growth
        found += [
            Verdict(
                f"round {number}: fds back to baseline",
                one.closed.fds == baseline.fds and one.later.fds == baseline.fds,
                f"{baseline.fds} -> peak {one.peak.fds:,} -> {one.closed.fds}, {one.later.fds}",
            ),
            Verdict(
                f"round {number}: RSS back within baseline + {RSS_MARGIN:.0%} of the peak growth",
                one.trimmed.rss_kib <= allowed,
                f"{_mb(baseline.rss_kib)} -> peak {_mb(one.peak.rss_kib)} -> "
                f"{_mb(one.trimmed.rss_kib)} MB (limit {_mb(int(allowed))})",
            ),
            Verdict(
                f"round {number}: every knock counted as a discard of its bind",
                one.knocks > 0
                and one.miscounted_binds == 0
                and one.discards == one.knocks
                and one.accepted == 0,
                f"{one.knocks:,} knocks, {one.discards:,} discards, "
                f"{one.miscounted_binds} binds miscounted",
            ),
            Verdict(
                f"round {number}: every relay and bind survived, every byte intact",
                one.relays.opened == options.connections
                and one.holds.opened == options.binds
                and not one.relays.failures
                and not one.holds.failures
                and one.relays.mismatches == 0
                and one.relays.bytes_back == one.relays.bytes_out,
                f"{one.relays.opened:,} relays, {one.holds.opened:,} binds, "
                f"{one.relays.bytes_back:,} of {one.relays.bytes_out:,} bytes back",
            ),
        ]
    found += _round_growth(result)
    errors = [line for line in result.logged if line.startswith("error")]
    found.append(
        Verdict("the service logged no error", not errors, f"{len(result.logged)} warnings+errors")
    )
    return found


def _round_growth(result: LoadResult) -> list[Verdict]:
    """Every later round ends (after gc + malloc_trim) near where round 1 ended."""
    if len(result.rounds) < 2:
        return []
    first = result.rounds[0]
    allowed = first.trimmed.rss_kib + ROUND_MARGIN * max(
        0, first.peak.rss_kib - result.baseline.rss_kib
    )
    return [
        Verdict(
            f"round {number}: RSS does not grow from round to round "
            f"(within {ROUND_MARGIN:.0%} of round 1's peak growth)",
            one.trimmed.rss_kib <= allowed,
            f"round 1 ended at {_mb(first.trimmed.rss_kib)} MB, round {number} at "
            f"{_mb(one.trimmed.rss_kib)} MB (limit {_mb(int(allowed))})",
        )
        for number, one in enumerate(result.rounds[1:], 2)
    ]


def render(result: LoadResult) -> str:
    """The full report: settings, memory table, each round's figures, the service log, verdicts."""
    options = result.options
    lines = [
        f"fwx load: {options.connections:,} CONNECT relays + {options.binds:,} binds "
        f"({options.tcp_binds:,} BIND, {options.udp_binds:,} UDP ASSOCIATE) held "
        f"{options.seconds:g} s, knocks {options.knock_rate:g}/s, one exchange of <= "
        f"{options.exchange_size:,} B per relay every {options.interval:g} s, "
        f"{options.rounds} round(s); audit log {'on' if options.audit else 'off'}; "
        f"RLIMIT_NOFILE {result.fd_limit:,}",
        "",
        *_memory_rows(result.baseline, result.rounds),
        "",
    ]
    for number, one in enumerate(result.rounds, 1):
        lines += _round_rows(number, one, result)
    lines += ["", f"service log: {len(result.logged)} lines at WARNING or above"]
    lines += [f"  {line}" for line in result.logged[:10]]
    lines.append("")
    for verdict in verdicts(result):
        lines.append(f"{'ok  ' if verdict.held else 'FAIL'} {verdict.what}: {verdict.figures}")
    return "\n".join(lines)
