#!/usr/bin/env python3
"""Long fuzz runs of the targets in ``tests/fuzz``, and the 50 MB rule-file check.

    python bench/fuzz.py [--target NAME ...] [--examples N | --minutes M] [--seed S]
    python bench/fuzz.py --list
    python bench/fuzz.py --atheris NAME [--examples N | --minutes M]
    python bench/fuzz.py --big-file 50

The targets are the ones the tests run briefly (SOCKS handshake and buffer
bound, UDP header, FTP lines, line splitter, rule files as text, near-valid
and as bytes, simulate traces, admin values and request streams). Here each
runs with random seeds in batches of ``--batch`` inputs until it has tried
``--examples`` inputs (default 2,000 per target) or for ``--minutes`` per
target. A failing batch prints its falsifying input (cut to a few lines) and
the run goes on with the next batch. It prints, per target: inputs tried,
failures, seconds; it exits 1 if any target failed.

``--atheris NAME`` hands one target to atheris (coverage-guided libFuzzer,
``pip install atheris``) through hypothesis' ``fuzz_one_input``; the first
failure stops it, as libFuzzer does, and the failing input is written to
``/tmp/fwx-atheris-NAME-crash-*``.

``--big-file MB`` writes a rule file of that size in a temporary folder
(1,000 protocols, rules up to the size, one rule naming a protocol that does
not exist at the very end) and runs ``fwx rules check`` on it in a child
process: exit code, the lines it printed, elapsed seconds and the child's
peak memory (``ru_maxrss``).

This is a benchmark script, not a test: it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import importlib
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import seed as hypothesis_seed  # noqa: E402

from tests.fuzz.target import Target  # noqa: E402

MODULES = ("test_socks", "test_ftp", "test_rules", "test_trace", "test_admin")
SHOWN_LINES = 12
_FWX = "from console.cli.main import run; run()"
"""``fwx`` of this checkout, whatever is installed."""


def all_targets() -> dict[str, Target]:
    """Every target of ``tests/fuzz``, by name."""
    found: dict[str, Target] = {}
    for name in MODULES:
        module = importlib.import_module(f"tests.fuzz.{name}")
        found.update((target.name, target) for target in module.TARGETS)
    return found


def run_target(
    target: Target, examples: int, minutes: float | None, batch: int, seed: int
) -> tuple[int, int, float]:
    """Batches of random inputs until enough were tried; (inputs, failing batches, seconds)."""
    start = time.monotonic()
    deadline = None if minutes is None else start + minutes * 60
    before, failures, round_ = target.runs, 0, 0
    while True:
        tried = target.runs - before
        if deadline is None and tried >= examples:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        size = batch if deadline is not None else min(batch, examples - tried)
        test = target.hypothesis_test(max_examples=size, derandomize=False)
        try:
            hypothesis_seed(seed * 1_000_003 + round_)(test)()
        except Exception as error:  # a failing batch: show it, count it, go on
            failures += 1
            report_failure(target.name, error)
        round_ += 1
    return target.runs - before, failures, time.monotonic() - start


def report_failure(name: str, error: BaseException) -> None:
    """The failure, cut short: each distinct error hypothesis found and its input."""
    errors = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
    for each in errors:
        lines = [f"{type(each).__name__}: {each}", *getattr(each, "__notes__", [])]
        text = "\n".join(lines).splitlines()[:SHOWN_LINES]
        print(f"FAILED {name}:", *(line[:200] for line in text), sep="\n  ", flush=True)


def fuzz(names: list[str], examples: int, minutes: float | None, batch: int, seed: int) -> int:
    targets = all_targets()
    unknown = [name for name in names if name not in targets]
    if unknown:
        print(f"unknown target(s): {', '.join(unknown)}; --list shows them", file=sys.stderr)
        return 2
    budget = f"{minutes} min" if minutes is not None else f"{examples} inputs"
    print(f"fuzz: {budget} per target, batches of {batch}, seed {seed}")
    print(f"{'target':<22} {'inputs':>9} {'failures':>9} {'seconds':>9}")
    failed = 0
    for name in names or list(targets):
        runs, failures, seconds = run_target(targets[name], examples, minutes, batch, seed)
        failed += failures
        print(f"{name:<22} {runs:>9} {failures:>9} {seconds:>9.1f}", flush=True)
    return 1 if failed else 0


def atheris_run(name: str, examples: int, minutes: float | None) -> int:
    """Coverage-guided fuzzing of one target; libFuzzer stops the process at the end."""
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    target = all_targets().get(name)
    if target is None:
        print(f"unknown target {name!r}; --list shows them", file=sys.stderr)
        return 2
    test: Any = target.hypothesis_test()
    budget = [f"-max_total_time={int(minutes * 60)}"] if minutes else [f"-runs={examples}"]
    atheris.instrument_all()
    crashes = f"-artifact_prefix={tempfile.gettempdir()}/fwx-atheris-{name}-"
    options = ["-timeout=10", "-max_len=8192", "-len_control=0", crashes]
    atheris.Setup([sys.argv[0], *budget, *options], test.hypothesis.fuzz_one_input)
    atheris.Fuzz()
    return 0


def big_rule_file(path: Path, megabytes: int) -> int:
    """Write a rule file of about ``megabytes`` MB; the number of rules in it."""
    size = megabytes * 1_000_000
    with path.open("w", encoding="utf-8") as out:
        out.write('version = 1\n[service]\nlisten = "127.0.0.1:1080"\nexternal = "127.0.0.1"\n')
        for number in range(1000):
            out.write(
                f'[[protocol]]\nname = "P{number}"\nguid = "{uuid.UUID(int=number + 1)}"\n'
                f'primary = {{ port = {number + 1}, transport = "tcp", direction = "outbound" }}\n'
            )
        rules = 0
        padding = "padding " * 40
        while out.tell() < size:
            out.write(
                f'[[rule]]\nname = "rule {rules}"\naction = "allow"\n'
                f'protocols = ["P{rules % 1000}", "P{rules * 7 % 1000}"]\n'
                f'users = ["any"]\nclients = ["any"]\ndescription = "{padding}"\n'
            )
            rules += 1
        out.write('[[rule]]\nname = "dangling"\naction = "allow"\nprotocols = ["No such"]\n')
    return rules + 1


def big_file(megabytes: int) -> int:
    """``fwx rules check`` on a generated file: exit code, output, time, peak memory."""
    with tempfile.TemporaryDirectory(prefix="fwx-big-") as folder:
        path = Path(folder) / "big.toml"
        rules = big_rule_file(path, megabytes)
        print(f"{path.stat().st_size / 1e6:.1f} MB, {rules} rules, the last one dangling")
        command = [sys.executable, "-c", _FWX, "rules", "check", str(path)]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"exit {done.returncode}, {elapsed:.1f} s, peak RSS {peak:.0f} MiB")
    for line in (done.stdout + done.stderr).splitlines()[:SHOWN_LINES]:
        print("  " + line[:200])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", default=[], help="a target (repeatable)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--examples", type=int, default=2000, help="inputs per target")
    budget.add_argument("--minutes", type=float, help="minutes per target instead")
    parser.add_argument("--batch", type=int, default=500, help="inputs per hypothesis run")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="first random seed")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--atheris", metavar="NAME", help="fuzz one target with atheris")
    parser.add_argument("--big-file", type=int, metavar="MB", help="check a generated rule file")
    args = parser.parse_args()
    if args.list:
        print("\n".join(all_targets()))
        return 0
    if args.big_file is not None:
        return big_file(args.big_file)
    if args.atheris:
        return atheris_run(args.atheris, args.examples, args.minutes)
    return fuzz(args.target, args.examples, args.minutes, args.batch, args.seed)


if __name__ == "__main__":
    sys.exit(main())
