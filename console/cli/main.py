"""The `fwx` command: one Typer app composed of one module per command group."""

from __future__ import annotations

import typer

from console.cli import console as console_command
from console.cli import rules as rules_commands
from console.cli import serve as serve_commands
from console.cli import simulate as simulate_commands

__all__ = ["app", "run"]

app = typer.Typer(
    name="fwx",
    help="fwx: a firewall service with retroactive bind approval, and its operator console.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(rules_commands.app, name="rules")
app.command(name="console")(console_command.console)
app.command(name="serve")(serve_commands.serve)
app.command(name="simulate")(simulate_commands.simulate)


def run() -> None:
    """Entry point of the `fwx` console script."""
    app()
