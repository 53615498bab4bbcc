"""`fwx simulate TRACE --rules RULES`: what would these rules do to this traffic?

The trace's steps are replayed against a fresh engine with a manual clock
starting at 0, and one result per step is printed: a table by default, one
JSON object per line with ``--json``. Exit codes (see
:class:`console.cli.common.ExitCode`): 0 the trace ran, whatever its results;
1 the trace or the rule file is invalid (every problem, one line each); 2 bad
command line; 3 a file could not be read.
"""

from __future__ import annotations

from collections.abc import Iterable
from json import dumps
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from console.cli.common import ExitCode, fail, stderr, stdout
from engine.simulate import StepResult, Trace, TraceError, TraceUnreadable, load_trace, run
from rules.errors import RuleFileError, RuleFileUnreadable
from rules.loader import load as load_rules
from rules.model import RuleSet

__all__ = ["WIDE", "simulate"]

WIDE = 120
"""Terminals at least this wide get the seven-column table."""


def simulate(
    trace: Annotated[
        Path,
        typer.Argument(
            help="The trace file: its steps are replayed in order (see the README).",
            show_default=False,
        ),
    ],
    rules: Annotated[
        Path,
        typer.Option(
            "--rules",
            help="The rule file the engine enforces (TOML, as for `fwx rules check`).",
            metavar="RULES",
            show_default=False,
        ),
    ],
    json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per step, one per line.")
    ] = False,
) -> None:
    """Replay a trace against a fresh engine and print each step's result."""
    ruleset = _rules(rules)
    steps = _trace(trace, ruleset)
    results = run(steps, ruleset)
    if json:
        for result in results:
            typer.echo(dumps(result.to_json(), ensure_ascii=False))
        return
    stdout.print(_table(trace, results))


def _rules(path: Path) -> RuleSet:
    """The rule set at ``path``, or its problems on standard error and exit."""
    try:
        return load_rules(path)
    except RuleFileUnreadable as err:
        fail(str(err), ExitCode.IO_ERROR)
    except RuleFileError as err:
        _refuse(path, err)


def _trace(path: Path, ruleset: RuleSet) -> Trace:
    """The checked trace at ``path``, or its problems on standard error and exit."""
    try:
        return load_trace(path, ruleset)
    except TraceUnreadable as err:
        fail(str(err), ExitCode.IO_ERROR)
    except TraceError as err:
        _refuse(path, err)


def _refuse(path: Path, err: RuleFileError) -> NoReturn:
    """Every problem on its own line, then a count, and exit 1."""
    for problem in err.problems:
        stderr.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    count = len(err.problems)
    fail(f"{path}: {count} problem{'' if count == 1 else 's'}", ExitCode.INVALID)


def _table(trace: Path, results: Iterable[StepResult]) -> Table:
    """One row per step: number, time, op, bind or session, outcome, bind state, detail.

    A terminal narrower than :data:`WIDE` gets two lines per step instead of
    seven columns: the step's facts, then its detail below them.
    """
    if stdout.width < WIDE:
        return _compact(trace, results)
    table = Table(title=f"fwx simulate {trace}", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right")
    table.add_column("time", justify="right")
    table.add_column("op")
    table.add_column("subject")
    table.add_column("result", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("detail", overflow="fold", ratio=1)
    for result in results:
        table.add_row(
            str(result.step),
            f"{result.time:g}",
            result.op,
            Text(result.subject),
            Text(result.outcome, style=_style(result)),
            "" if result.state is None else result.state.value,
            Text(result.note),
        )
    return table


def _compact(trace: Path, results: Iterable[StepResult]) -> Table:
    """The narrow layout: ``#``, time, then the step's facts with the detail on a second line."""
    table = Table.grid(padding=(0, 1))
    table.title = f"fwx simulate {trace}"
    table.title_justify = "left"
    table.add_column(justify="right")
    table.add_column(justify="right")
    table.add_column(overflow="fold", ratio=1)
    for result in results:
        state = "" if result.state is None else result.state.value
        facts = [(result.op, "bold"), (result.subject, ""), (result.outcome, _style(result))]
        body = Text("  ").join(Text(text, style=style) for text, style in facts if text)
        if state:
            body.append(f"  {state}")
        body.append(f"\n{result.note}")
        table.add_row(str(result.step), f"{result.time:g}s", body)
    return table


def _style(result: StepResult) -> str:
    """Green for what succeeded or was accepted, red for the rest; the text says it too."""
    if result.result is not None:
        return "green" if result.result.succeeded else "red"
    if result.action is not None:
        return "green" if result.action.value == "accept" else "red"
    return ""
