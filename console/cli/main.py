"""The `fwx` command: one Typer app composed of one module per command group.

Running a service: ``serve`` (headless), ``console`` (with the service
embedded, or ``--attach`` to a running one). Acting on a running service
over its admin socket: ``status``, ``binds``, ``sessions``, ``openings``,
``protocols``, ``rules reload``. Offline: ``rules`` (files), ``simulate``,
``log`` (the audit log). Exit codes are listed in
:mod:`console.cli.common`.
"""

from __future__ import annotations

import typer

from console.cli import binds as binds_commands
from console.cli import console as console_command
from console.cli import log as log_command
from console.cli import openings as openings_commands
from console.cli import protocols as protocols_commands
from console.cli import reload as reload_command
from console.cli import rules as rules_commands
from console.cli import serve as serve_commands
from console.cli import sessions as sessions_commands
from console.cli import simulate as simulate_commands
from console.cli import status as status_command

__all__ = ["app", "run"]

app = typer.Typer(
    name="fwx",
    help="fwx: a firewall service with retroactive bind approval, and its operator console.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="serve")(serve_commands.serve)
app.command(name="console")(console_command.console)
app.command(name="status")(status_command.status)
app.add_typer(binds_commands.app, name="binds")
app.add_typer(sessions_commands.app, name="sessions")
app.add_typer(openings_commands.app, name="openings")
app.add_typer(protocols_commands.app, name="protocols")
rules_commands.app.command(name="reload")(reload_command.reload)
app.add_typer(rules_commands.app, name="rules")
app.command(name="log")(log_command.log)
app.command(name="simulate")(simulate_commands.simulate)


def run() -> None:
    """Entry point of the `fwx` console script."""
    app()
