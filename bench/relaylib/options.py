"""The command line: options, sizes and ``NAME=HOST:PORT`` targets, checked."""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass

from .socks import Target


@dataclass(frozen=True)
class Options:
    """The command line, parsed."""

    targets: tuple[Target, ...]
    size: int
    rounds: int
    concurrency: int
    sessions: int
    rate_seconds: float
    bind_attempts: int
    timeout: float
    transfer_cap: float
    fwx_allow_all: bool
    origin_port: int


def parse_size(text: str) -> int:
    """Bytes from ``123``, ``256K``, ``256M`` or ``1G`` (binary multiples)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    scale = units.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit() or int(digits) == 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1G, 256M)")
    return int(digits) * scale


def parse_target(text: str) -> Target:
    """``NAME=HOST:PORT`` (``[::1]:PORT`` for IPv6), loopback addresses only."""
    name, _, address = text.partition("=")
    host, _, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not name or name == "direct" or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"not NAME=HOST:PORT: {text!r}")
    if not loopback:
        raise argparse.ArgumentTypeError(f"{text!r}: only loopback addresses are benchmarked")
    return Target(name, (host, int(port)))


def parse_options(argv: list[str]) -> Options:
    """The command line, checked."""
    parser = argparse.ArgumentParser(
        description="SOCKS5 relay benchmark: servers side by side against a direct transfer."
    )
    parser.add_argument("targets", nargs="+", type=parse_target, metavar="NAME=HOST:PORT")
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="transfer size (1G)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; figures are medians (5)")
    parser.add_argument("--concurrency", type=int, default=50, help="parallel sessions (50)")
    parser.add_argument(
        "--sessions",
        type=int,
        default=30_000,
        help="short sessions in a row that must all succeed; 0 skips (30000)",
    )
    parser.add_argument(
        "--rate-seconds",
        type=float,
        default=2.0,
        help="how long each session-rate measurement runs (2)",
    )
    parser.add_argument("--bind-attempts", type=int, default=100, help="BINDs per round (100)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="time-out of one session, one BIND, one stalled read (5 s)",
    )
    parser.add_argument(
        "--transfer-cap", type=float, default=120.0, help="longest a transfer may take (120 s)"
    )
    parser.add_argument(
        "--origin-port",
        type=int,
        default=9000,
        help="the origin listens on 127.0.0.2 at this port (transfers) and the next (sessions); "
        "a firewall under test must let CONNECTs reach both; 0: ports chosen by the kernel "
        "(9000)",
    )
    parser.add_argument(
        "--fwx-allow-all",
        action="store_true",
        help="the servers named fwx* run with a rule file whose protocol rules approve the BIND "
        "port at bind time (R11), so a BIND left without a second reply is a failure instead "
        "of 'held pending'",
    )
    args = parser.parse_args(argv)
    names = [target.name for target in args.targets]
    if len(set(names)) != len(names):
        parser.error("every server needs its own NAME")
    if min(args.rounds, args.concurrency, args.bind_attempts) < 1 or args.sessions < 0:
        parser.error("--rounds, --concurrency, --bind-attempts must be >= 1, --sessions >= 0")
    if not 0 <= args.origin_port < 65535:
        parser.error("--origin-port must be 0 to 65534")
    return Options(
        tuple(args.targets), args.size, args.rounds, args.concurrency, args.sessions,
        args.rate_seconds, args.bind_attempts, args.timeout, args.transfer_cap,
        args.fwx_allow_all, args.origin_port,
    )  # fmt: skip
