"""`fwx protocols …`: list, register and unregister the protocols of a running service.

A registration is live and persisted: the service adds the definition to
its rule file (saved safely, the previous file kept as a backup) and puts
it in force, as the console's register dialog does; unregistering removes
it the same way (binds already allowed for it stay allowed, R76). The
definition is built by the same parser as that dialog
(:func:`console.tui.definitions.parse_definition`).

Exit codes (see :class:`console.cli.common.ExitCode`): ``register`` and
``unregister`` exit with their result code (``S_OK`` 0, ``E_INVALIDARG`` 11
with every problem on its own line, ``NOT_FOUND`` 12, ``ALREADY_EXISTS``
13, …); 2 bad command line (a field that does not parse); 4 no service;
5 refused; 3 the socket could not be used.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from console.cli.common import ExitCode, fail, result_exit_code, stderr, stdout
from console.cli.live import JsonOption, call, print_json
from console.cli.service_options import SocketOption
from console.tui.definitions import parse_definition
from engine.admin.snapshots import Outcome, ProtocolSnapshot
from rules.model import Direction, ProtocolDefinition

__all__ = ["app", "definition_from_options"]

app = typer.Typer(
    help="List, register and unregister the protocols of the running service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class TransportChoice(enum.StrEnum):
    """The transports ``--transport`` takes."""

    TCP = "tcp"
    UDP = "udp"


@app.command("list")
def list_protocols(socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """List the protocols the service knows: the rule file's, then run-time registrations."""
    protocols = call(socket, lambda control: control.protocols())
    if as_json:
        print_json(protocols)
        return
    stdout.print(_table(protocols))


def _table(protocols: Sequence[ProtocolSnapshot]) -> Table:
    table = Table(title=f"Protocols ({len(protocols)})", title_justify="left")
    for column in ("name", "GUID", "primary", "secondary", "filter", "source"):
        table.add_column(column, no_wrap=column == "GUID")
    table.add_column("description", overflow="fold")
    for proto in protocols:
        table.add_row(
            Text(proto.name),
            proto.guid,
            proto.primary,
            "\n".join(proto.secondary),
            Text(proto.filter or ""),
            proto.source,
            Text(proto.description),
        )
    return table


def definition_from_options(
    *,
    name: str,
    port: int,
    transport: str,
    direction: str,
    guid: str | None,
    secondary: Sequence[str],
    filter_name: str | None,
    description: str,
) -> ProtocolDefinition:
    """The definition the register options describe; ValueError says what does not parse."""
    return parse_definition(
        {
            "name": name,
            "guid": guid if guid is not None else str(uuid.uuid4()),
            "port": str(port),
            "transport": transport,
            "direction": direction,
            "secondary": ";".join(secondary),
            "filter": filter_name or "",
            "description": description,
        }
    )


@app.command()
def register(
    name: Annotated[str, typer.Option("--name", help="The protocol's name.", show_default=False)],
    port: Annotated[
        int,
        typer.Option(
            "--port", help="The primary connection's port.", min=1, max=65535, show_default=False
        ),
    ],
    transport: Annotated[
        TransportChoice,
        typer.Option("--transport", help="The primary connection's transport.", show_default=False),
    ],
    direction: Annotated[
        Direction,
        typer.Option(
            "--direction",
            help="The primary connection's direction: inbound|outbound (tcp), "
            "send|receive|send-receive|receive-send (udp).",
            show_default=False,
        ),
    ],
    guid: Annotated[
        str | None,
        typer.Option("--guid", help="The protocol's GUID (default: a new one).", metavar="GUID"),
    ] = None,
    secondary: Annotated[
        list[str] | None,
        typer.Option(
            "--secondary",
            help="A secondary connection, 'TRANSPORT PORTS DIRECTION' "
            "(e.g. 'udp 5000-5010 receive'); repeat for more.",
            metavar="SPEC",
        ),
    ] = None,
    filter_name: Annotated[
        str | None,
        typer.Option("--filter", help="The application filter to attach (e.g. ftp).", metavar="F"),
    ] = None,
    description: Annotated[
        str, typer.Option("--description", help="A note kept in the rule file.")
    ] = "",
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a protocol: added to the rule file and put in force at once."""
    try:
        definition = definition_from_options(
            name=name,
            port=port,
            transport=transport.value,
            direction=direction.value,
            guid=guid,
            secondary=secondary or (),
            filter_name=filter_name,
            description=description,
        )
    except ValueError as err:
        fail(str(err), ExitCode.USAGE)
    outcome = call(socket, lambda control: control.register_protocol(definition))
    _finish(outcome, f"protocol {definition.name} ({definition.guid})", as_json)


@app.command()
def unregister(
    protocol: Annotated[
        str,
        typer.Argument(help="The protocol: its name or GUID.", metavar="NAME|GUID"),
    ],
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Unregister a protocol: removed from the rule file (or the run-time registrations)."""
    outcome = call(socket, lambda control: control.unregister_protocol(protocol))
    _finish(outcome, f"protocol {protocol}", as_json)


def _finish(outcome: Outcome, subject: str, as_json: bool) -> None:
    """Print the outcome (problems one per line on standard error) and exit with its code.

    The line is ``SUBJECT: NAME (0x...): what the service said`` (the code's
    generic meaning when it said nothing).
    """
    result = outcome.result
    line = f"{subject}: {result.label} ({result.hex}): {outcome.message or result.meaning}"
    if as_json:
        print_json(outcome)
    elif outcome.ok:
        stdout.print(line, markup=False, soft_wrap=True)
    else:
        for problem in outcome.problems:
            stderr.print(problem, markup=False, soft_wrap=True)
        stderr.print(f"fwx: {line}", markup=False, soft_wrap=True)
    raise typer.Exit(result_exit_code(result))
