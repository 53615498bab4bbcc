"""``bench/load.py``'s command line: options, the fd budget check, the run, the report."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
from pathlib import Path

from .report import render, verdicts
from .run import FD_HEADROOM, LoadOptions, fds_needed, run_load

__all__ = ["main", "parse_options"]


def parse_options(argv: list[str]) -> LoadOptions:
    """The options; exits 2 (argparse) on a bad command line or a load that cannot fit."""
    parser = argparse.ArgumentParser(
        prog="bench/load.py",
        description="fwx under load: relays, held binds, knocks; fds, RSS, discards, console.",
    )
    default = LoadOptions()
    parser.add_argument(
        "--connections",
        type=int,
        default=default.connections,
        help="CONNECT sessions relaying to the echo server (default %(default)s)",
    )
    parser.add_argument(
        "--binds", type=int, default=default.binds, help="binds held open (default %(default)s)"
    )
    parser.add_argument(
        "--udp-share",
        type=float,
        default=default.udp_share,
        help="share of the binds that are UDP ASSOCIATE (default %(default)s)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=default.seconds,
        help="how long the load is held (default %(default)s)",
    )
    parser.add_argument(
        "--knock-rate",
        type=float,
        default=default.knock_rate,
        help="knocks a second on pending binds (default %(default)s)",
    )
    parser.add_argument(
        "--exchange-size",
        type=int,
        default=default.exchange_size,
        help="largest echo exchange in bytes (default %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=default.interval,
        help="seconds between a relay's exchanges (default %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=default.rounds,
        help="rounds of open, hold, close (default %(default)s)",
    )
    parser.add_argument(
        "--linger",
        type=float,
        default=default.linger,
        help="seconds to wait after closing before the last reading (default %(default)s)",
    )
    parser.add_argument(
        "--no-tui", action="store_true", help="time admin calls only, not the Textual console"
    )
    parser.add_argument("--no-probe", action="store_true", help="no console timing at all")
    parser.add_argument("--no-audit", action="store_true", help="run the service without audit")
    args = parser.parse_args(argv)
    options = LoadOptions(
        connections=args.connections,
        binds=args.binds,
        udp_share=args.udp_share,
        seconds=args.seconds,
        knock_rate=args.knock_rate,
        exchange_size=args.exchange_size,
        interval=args.interval,
        rounds=args.rounds,
        linger=args.linger,
        probe=not args.no_probe,
        tui=not (args.no_tui or args.no_probe),
        audit=not args.no_audit,
    )
    if min(options.connections, options.binds, options.rounds, options.exchange_size) < 0 or not (
        0 <= options.udp_share <= 1
    ):
        parser.error("counts must not be negative, and --udp-share is between 0 and 1")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    needed = fds_needed(options)
    if needed > hard:
        per_bind = 2 + options.udp_share
        fits = int((hard - FD_HEADROOM - 2 * options.connections) / per_bind)
        parser.error(
            f"the service would need about {needed:,} file descriptors, and the hard "
            f"RLIMIT_NOFILE of this machine is {hard:,} (only CAP_SYS_RESOURCE raises it); "
            f"with --connections {options.connections} at most --binds {max(fits, 0)} fits"
        )
    return options


def main(argv: list[str]) -> int:
    """Run the load and print the report; 0 when every verdict held, else 1."""
    options = parse_options(argv)
    with tempfile.TemporaryDirectory(prefix="fwx-load-", dir="/tmp") as folder:
        result = asyncio.run(run_load(options, Path(folder)))
    print(render(result))
    sys.stdout.flush()
    return 0 if all(verdict.held for verdict in verdicts(result)) else 1
