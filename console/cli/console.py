"""`fwx console`: the operator console, with the service embedded.

The service (SOCKS listener, engine, rule file) runs on its own thread and
event loop; the console talks to it only through the control interface.
With no rule file, a starter one is written first (as `fwx rules init`) and
the console says where. ``--demo`` adds loopback traffic on a copy of the
starter rules with demo protocols, so nothing of the operator's is touched.

Exit codes (see :class:`console.cli.common.ExitCode`): 0 the console was
closed; 1 the rule file is invalid (every problem, one line each) or the
service refused to start; 2 bad command line; 3 a file could not be read or
written, or the listening address could not be bound.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from console.cli.common import ExitCode, fail, stderr
from console.control.local import LocalControl
from console.tui.app import ConsoleApp
from console.tui.demo import Demo, write_demo_rules
from engine.service import Service, ServiceError
from rules.errors import RuleFileError, RuleFileUnreadable
from rules.saver import write_text
from rules.starter import STARTER_TEXT

__all__ = ["console"]


def console(
    rules: Annotated[
        Path,
        typer.Option(
            "--rules",
            help="The rule file; created from the starter file (as `fwx rules init`) if missing.",
            metavar="PATH",
        ),
    ] = Path("fwx.toml"),
    listen: Annotated[
        str | None,
        typer.Option(
            help="Where the SOCKS5 service listens (default: the rule file's).",
            metavar="HOST:PORT",
            show_default=False,
        ),
    ] = None,
    external: Annotated[
        str | None,
        typer.Option(
            help="The external address binds are made on (default: the rule file's).",
            metavar="ADDR",
            show_default=False,
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Also run demo SOCKS traffic on loopback (own rule file)."),
    ] = False,
) -> None:
    """Run the service and watch it live: binds, approvals, rules, events."""
    with _rule_file(rules, demo) as (path, notes):
        control = _start(path, listen, external, notes)
        service = control.service
        traffic = Demo(control, service.address) if demo else None
        try:
            if traffic is not None:
                traffic.start()
            ConsoleApp(control).run()
        finally:
            if traffic is not None:
                traffic.stop()
            control.stop()


@contextlib.contextmanager
def _rule_file(rules: Path, demo: bool) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """The rule file to use and what to tell the operator about it."""
    if demo:
        with tempfile.TemporaryDirectory(prefix="fwx-demo-") as folder:
            path = write_demo_rules(Path(folder))
            yield path, (f"Demo: rules in {path} (removed when the console stops).",)
        return
    if rules.exists():
        yield rules, ()
        return
    try:
        write_text(rules, STARTER_TEXT)
    except OSError as err:
        fail(f"cannot write {rules}: {err.strerror or err}", ExitCode.IO_ERROR)
    note = f"Created a starter rule file at {rules.resolve()} (as `fwx rules init`)."
    stderr.print(note, markup=False, soft_wrap=True)
    yield rules, (note,)


def _start(
    path: Path, listen: str | None, external: str | None, notes: tuple[str, ...]
) -> LocalControl:
    """Start the service, or explain in one line (per problem) why it cannot start."""
    try:
        control = LocalControl(Service(path, listen=listen, external=external), notes=notes)
        control.start()
    except RuleFileUnreadable as err:
        fail(str(err), ExitCode.IO_ERROR)
    except RuleFileError as err:
        for problem in err.problems:
            stderr.print(str(problem), markup=False, soft_wrap=True)
        fail(f"{path}: the rule file is invalid", ExitCode.INVALID)
    except ServiceError as err:
        fail(str(err), ExitCode.INVALID)
    except OSError as err:
        fail(f"cannot start the service: {err.strerror or err}", ExitCode.IO_ERROR)
    return control
