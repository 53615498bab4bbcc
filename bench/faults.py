#!/usr/bin/env python3
"""Fault soak: every data-plane fault of the hardening tests, round after round, on one service.

    python bench/faults.py [--rounds 50] [--only TEXT ...]

One `fwx serve` (listening and binding on 127.0.81.1, ``bind_ports = "40000-40009"``, its
admin socket and audit log in a temporary folder) and the remotes of the tests on 127.0.81.3.
Each round runs every fault of ``tests/hardening/test_faults.py`` once — clients vanishing
mid-BIND and mid-relay (FIN and RST), remotes resetting, UDP control connections dropped, send
errors and ICMP unreachables on UDP, the bind port range exhausted, the process out of file
descriptors — and after each checks that the service settled exactly as the tests do: no
bind, no opening, no connection left, the baseline file descriptors, no error logged, and a
fresh CONNECT relays 1 MiB with its SHA-256 intact. ``--only`` keeps the faults whose name
holds one of the texts.

It prints one row per fault (runs, failures and the first failure's message), the service's
fds and RSS before the first round and after the last, and, once the service is stopped, what
its audit log holds: rows of the run, sequence gaps, rows lost or missed. Exit status 0 when
nothing failed, fds came back to the baseline and the audit log lost nothing; 1 otherwise; 2
for a bad command line. Loopback only; it stops by itself (every wait has a time-out).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where `console` would mean
# bench/console.py; the repository root must come first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.audit import AuditReader
from tests.e2e.socks_client import BIND, UDP_ASSOCIATE
from tests.hardening.test_faults import (
    Origin,
    Served,
    drop_udp_control,
    exhaust_ports,
    origin_servers,
    out_of_descriptors,
    prove_forwarding,
    quiet_fds,
    remote_ends_bind_connection,
    rules_text,
    serve,
    settled,
    short_folder,
    udp_send_errors,
    vanish_after_first_reply,
    vanish_after_second_reply,
    vanish_mid_relay,
)

Fault = Callable[[Served, Origin, int], None]


def _faults() -> dict[str, Fault]:
    """Every fault by name; each takes the service, the remotes and the baseline fds."""
    faults: dict[str, Fault] = {}
    for how in ("close", "reset"):
        faults[f"BIND client gone after 1st reply ({how})"] = lambda s, o, b, how=how: (
            vanish_after_first_reply(s, how)
        )
        faults[f"BIND client gone after 2nd reply ({how})"] = lambda s, o, b, how=how: (
            vanish_after_second_reply(s, how)
        )
        faults[f"BIND peer gone mid-relay ({how})"] = lambda s, o, b, how=how: (
            remote_ends_bind_connection(s, how)
        )
        for who in ("client", "remote"):
            faults[f"CONNECT {who} gone mid-relay ({how})"] = lambda s, o, b, who=who, how=how: (
                vanish_mid_relay(s, o, who, how)
            )
        faults[f"UDP control connection dropped ({how})"] = lambda s, o, b, how=how: (
            drop_udp_control(s, o, how)
        )
    faults["UDP send errors and ICMP unreachables"] = lambda s, o, b: udp_send_errors(s, o)
    for command, name in ((BIND, "BIND"), (UDP_ASSOCIATE, "UDP ASSOCIATE")):
        faults[f"{name}: bind_ports exhausted"] = lambda s, o, b, command=command: exhaust_ports(
            s, o, command
        )
        faults[f"{name}: out of file descriptors"] = lambda s, o, b, command=command: (
            out_of_descriptors(s, command, b)
        )
    return faults


@dataclass
class Tally:
    """How one fault fared over the rounds."""

    runs: int = 0
    failures: int = 0
    first: str = ""
    seconds: float = 0.0


@dataclass
class Soak:
    """The figures of one run."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    fds: tuple[int, int] = (0, 0)
    rss_kib: tuple[int, int] = (0, 0)
    audit: dict[str, int] = field(default_factory=dict)


def _rss_kib(served: Served) -> int:
    for line in Path(f"/proc/{served.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _run(rounds: int, faults: dict[str, Fault]) -> Soak:
    soak = Soak({name: Tally() for name in faults})
    with origin_servers() as origin, short_folder("fwx-soak-") as folder:
        text = rules_text(origin, bind_ports="40000-40009")
        with serve(folder, text) as served:
            prove_forwarding(served, origin)
            baseline = quiet_fds(served)
            rss = _rss_kib(served)
            for number in range(1, rounds + 1):
                for name, fault in faults.items():
                    _once(soak.tallies[name], lambda fault=fault: fault(served, origin, baseline))
                    _once(
                        soak.tallies[name], lambda: settled(served, origin, baseline), count=False
                    )
                print(f"round {number}/{rounds} done", file=sys.stderr, flush=True)
            soak.fds = (baseline, quiet_fds(served))
            soak.rss_kib = (rss, _rss_kib(served))
        soak.audit = _audit_figures(served)
    return soak


def _once(tally: Tally, step: Callable[[], None], *, count: bool = True) -> None:
    start = time.perf_counter()
    try:
        step()
    except Exception as exc:  # a failed fault is counted and the soak goes on
        tally.failures += 1
        where = traceback.extract_tb(exc.__traceback__)[-1]
        text = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}: {exc}"
        tally.first = tally.first or text.splitlines()[0][:100]
    tally.runs += count
    tally.seconds += time.perf_counter() - start


def _audit_figures(served: Served) -> dict[str, int]:
    with AuditReader(served.audit) as reader:
        rows = reader.query(run=reader.latest_run())
    seqs = [row.seq for row in rows if row.seq is not None]
    gaps = sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
    stopped = [row.detail for row in rows if row.kind == "service-stopped"]
    detail = stopped[0] if stopped else {}
    lost, missed = detail.get("lost", -1), detail.get("missed", -1)
    return {
        "rows": len(rows),
        "events": len(seqs),
        "sequence gaps": gaps,
        "lost": lost if isinstance(lost, int) else -1,
        "missed": missed if isinstance(missed, int) else -1,
    }


def _report(soak: Soak, rounds: int) -> bool:
    width = max(len(name) for name in soak.tallies)
    print(f"{'fault':<{width}}  {'runs':>5}  {'failed':>6}  {'s/run':>6}  first failure")
    for name, tally in soak.tallies.items():
        per_run = tally.seconds / tally.runs if tally.runs else 0.0
        print(
            f"{name:<{width}}  {tally.runs:>5}  {tally.failures:>6}  {per_run:>6.2f}  {tally.first}"
        )
    (fds_before, fds_after), (rss_before, rss_after) = soak.fds, soak.rss_kib
    print(f"\nrounds: {rounds}; service fds before/after: {fds_before}/{fds_after}; ", end="")
    print(f"RSS before/after: {rss_before}/{rss_after} KiB")
    print("audit log: " + ", ".join(f"{key} {value}" for key, value in soak.audit.items()))
    failed = sum(tally.failures for tally in soak.tallies.values())
    audit_ok = (soak.audit["sequence gaps"], soak.audit["lost"], soak.audit["missed"]) == (0, 0, 0)
    return failed == 0 and fds_before == fds_after and audit_ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="rounds of every fault (50)")
    parser.add_argument("--only", nargs="+", default=[], metavar="TEXT", help="faults to run")
    options = parser.parse_args(argv)
    faults = {
        name: fault
        for name, fault in _faults().items()
        if not options.only or any(text.lower() in name.lower() for text in options.only)
    }
    if options.rounds < 1 or not faults:
        parser.error("--rounds must be at least 1 and --only must match a fault")
    soak = _run(options.rounds, faults)
    return 0 if _report(soak, options.rounds) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
