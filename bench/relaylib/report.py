"""The report: the table, why figures are missing, the targets, and the exit verdict."""

from __future__ import annotations

import statistics
from collections.abc import Iterator

from .measure import REFERENCE_PEERS, Figures
from .options import Options
from .sessions import SessionRun

THROUGHPUT_TARGET = 0.5


def middle(values: list[float]) -> float | None:
    """The median of the rounds, or None when nothing was measured."""
    return statistics.median(values) if values else None


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference`` when both are known."""
    return value / reference if value is not None and reference else None


def show(value: float | None, spec: str, scale: float = 1.0) -> str:
    """A figure for the table, or a dash."""
    return "-" if value is None else format(value * scale, spec)


def table_rows(everyone: list[Figures], options: Options) -> Iterator[list[str]]:
    """Header and one row per target, direct first."""
    direct = everyone[0]
    yield [
        "server", "address", "MB/s", "x direct", "sessions/s", "x direct",
        "set-up ms p50", "p99", "BIND ms p50", "p99", f"{options.sessions} in a row",
    ]  # fmt: skip
    for figures in everyone:
        endpoint = figures.target.endpoint
        address = "-" if endpoint is None else f"{endpoint[0]}:{endpoint[1]}"
        if figures.down:
            yield [figures.target.name, address, "down"] + [""] * 8
            continue
        mbps, rate = middle(figures.mbps), middle(figures.rate)
        burst = figures.burst
        yield [
            figures.target.name,
            address,
            show(mbps, ",.0f"),
            show(ratio(mbps, middle(direct.mbps)), ".2f"),
            show(rate, ",.0f"),
            show(ratio(rate, middle(direct.rate)), ".2f"),
            show(middle(figures.setup_p50), ".2f", 1e3),
            show(middle(figures.setup_p99), ".2f", 1e3),
            show(middle(figures.bind_p50), ".2f", 1e3),
            show(middle(figures.bind_p99), ".2f", 1e3),
            "-" if burst is None else burst_text(burst),
        ]


def burst_text(burst: SessionRun) -> str:
    """All ok, or how many of the sessions in a row failed."""
    failed = sum(burst.failures.values())
    return f"all ok ({burst.rate:,.0f}/s)" if not failed else f"{failed} FAILED"


def render(rows: list[list[str]]) -> list[str]:
    """Columns aligned: text to the left, figures to the right."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def notes(everyone: list[Figures]) -> Iterator[str]:
    """Why figures are missing, and every failure by reason."""
    for figures in everyone:
        name = figures.target.name
        if figures.down:
            yield f"{name}: down ({figures.down})"
        yield from (f"{name}: {note}" for note in figures.notes)
        for reason, count in figures.failures.most_common(5):
            yield f"{name}: {count} failed: {reason}"
        for reason, count in figures.burst.failures.most_common(5) if figures.burst else []:
            yield f"{name}: {count} of the sessions in a row failed: {reason}"


def verdicts(everyone: list[Figures]) -> Iterator[str]:
    """The issue's targets, as ratios in this run, for every server that is not a reference."""
    by_name = {figures.target.name: figures for figures in everyone if not figures.down}
    direct = middle(everyone[0].mbps)
    peers = [(middle(by_name[n].rate), n) for n in REFERENCE_PEERS if n in by_name]
    best_rate, best_peer = max(((r, n) for r, n in peers if r is not None), default=(None, ""))
    dante = middle(by_name["dante"].bind_p50) if "dante" in by_name else None
    for figures in everyone:
        if figures.is_peer or figures.down:
            continue
        name = figures.target.name
        yield check(
            name,
            "throughput",
            ratio(middle(figures.mbps), direct),
            "direct",
            THROUGHPUT_TARGET,
            True,
        )
        yield check(name, "session rate", ratio(middle(figures.rate), best_rate),
                    best_peer or "best peer", 1.0, True)  # fmt: skip
        yield check(name, "BIND p50", ratio(middle(figures.bind_p50), dante), "dante", 1.0, False)


def check(name: str, what: str, value: float | None, against: str, goal: float, up: bool) -> str:
    """One target line: the ratio, the goal and whether it is met."""
    sign = ">=" if up else "<="
    if value is None:
        return f"{name}: {what}: no ratio (no figure for {name} or {against})"
    met = value >= goal if up else value <= goal
    verdict = "met" if met else "MISSED"
    return f"{name}: {what} {value:.2f}x {against} (target {sign} {goal:.2f}x): {verdict}"


def failed(figures: Figures) -> bool:
    """True when a server that is not a reference peer failed what it had to pass."""
    if figures.is_peer:
        return False
    burst_failed = figures.burst is not None and bool(figures.burst.failures)
    return bool(figures.down) or burst_failed or (figures.bind_stopped and figures.bind_must_pass)
