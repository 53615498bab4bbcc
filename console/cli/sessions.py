"""`fwx sessions list`: the client sessions of a running service.

A session is one client identity (client address and user); it holds the
client's binds. Exit codes (see :class:`console.cli.common.ExitCode`): 0 the
service answered; 4 no service; 5 refused; 3 the socket could not be used.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import typer
from rich.table import Table
from rich.text import Text

from console.cli.common import stdout
from console.cli.live import JsonOption, call, print_json
from console.cli.service_options import SocketOption
from console.tui.format import age
from engine.admin.snapshots import SessionSnapshot

__all__ = ["app"]

app = typer.Typer(
    help="The client sessions of the running service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("list")
def list_sessions(socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """List the live sessions: client, user, flags, binds (pending among them), age."""
    sessions = call(socket, lambda control: control.sessions())
    if as_json:
        print_json(sessions)
        return
    stdout.print(_table(sessions, time.time()))


def _table(sessions: Sequence[SessionSnapshot], now: float) -> Table:
    table = Table(title=f"Sessions ({len(sessions)})", title_justify="left")
    table.add_column("id", justify="right")
    table.add_column("client")
    table.add_column("user")
    table.add_column("flags")
    for column in ("binds", "pending", "age"):
        table.add_column(column, justify="right")
    for session in sessions:
        table.add_row(
            str(session.id),
            session.client,
            Text(session.user or "(anonymous)"),
            ", ".join(session.flags),
            str(session.binds),
            str(session.pending),
            age(now - session.created),
        )
    return table
