"""``main``: parse the command line, run the origin and the rounds, print the report."""

from __future__ import annotations

from .measure import run
from .options import parse_options
from .origin import start_origin
from .report import failed, notes, render, table_rows, verdicts


def main(argv: list[str]) -> int:
    """Run the benchmark and print the table; 1 when a non-reference server failed."""
    options = parse_options(argv)
    process, origin = start_origin(options.origin_port)
    try:
        everyone = run(options, origin)
    finally:
        process.terminate()
        process.join()
    print(
        f"\n{options.size:,} bytes per transfer, {options.rounds} rounds (medians), concurrency "
        f"{options.concurrency}, {options.bind_attempts} BINDs per round; MB = 10^6 bytes"
    )
    print("\n".join(render(list(table_rows(everyone, options)))))
    for line in [*notes(everyone), *verdicts(everyone)]:
        print(line)
    return 1 if any(failed(figures) for figures in everyone) else 0
