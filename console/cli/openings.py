"""`fwx openings list`: the dynamic packet-filter openings of a running service.

An opening exists only while its bind is allowed; it admits the bind's IP
filter's remotes (or any remote). Exit codes (see
:class:`console.cli.common.ExitCode`): 0 the service answered; 4 no service;
5 refused; 3 the socket could not be used.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer
from rich.table import Table
from rich.text import Text

from console.cli.common import stdout
from console.cli.live import JsonOption, call, print_json
from console.cli.service_options import SocketOption
from engine.admin.snapshots import OpeningSnapshot

__all__ = ["app"]

app = typer.Typer(
    help="The packet-filter openings of the running service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("list")
def list_openings(socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """List the openings: bind, transport, external address, admitted remotes."""
    openings = call(socket, lambda control: control.openings())
    if as_json:
        print_json(openings)
        return
    stdout.print(_table(openings))


def _table(openings: Sequence[OpeningSnapshot]) -> Table:
    table = Table(title=f"Openings ({len(openings)})", title_justify="left")
    table.add_column("bind", justify="right")
    table.add_column("transport")
    table.add_column("address")
    table.add_column("remotes", overflow="fold")
    for opening in openings:
        remotes = "any" if opening.remote is None else "\n".join(opening.remote) or "none"
        table.add_row(str(opening.bind_id), opening.transport, opening.address, Text(remotes))
    return table
