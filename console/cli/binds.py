"""`fwx binds …`: list, show, allow, terminate and re-check the binds of a running service.

``allow`` is ``RetroactiveAllowBind`` for the bind's own session, as the
console's allow dialog does it; a bind is named by its id or by its
external address (``HOST:PORT``, ``[V6]:PORT``, ``tcp/HOST:PORT`` or
``udp/HOST:PORT`` when a TCP and a UDP bind share the address).

Exit codes (see :class:`console.cli.common.ExitCode`): ``allow``,
``terminate`` and ``recheck`` exit with their result code (``S_OK`` 0,
``S_FALSE`` 10, ``E_INVALIDARG`` 11, ``NOT_FOUND`` 12 — also for an address
or ``show`` id that is no live bind —, ``FWX_E_TERMINATING`` 14,
``FWX_E_PROTOCOL_RULES_DENIED`` 16, …; ``recheck``: the first failure, else
``S_FALSE`` if a bind was already allowed); 2 bad command line (options
that do not go together, an address that is ambiguous or malformed); 4 no
service; 5 refused; 3 the socket could not be used.
"""

from __future__ import annotations

import enum
import ipaddress
import time
from collections.abc import Sequence
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from console.cli.common import ExitCode, fail, result_exit_code, stdout
from console.cli.live import JsonOption, call, exit_with, print_json
from console.cli.service_options import SocketOption
from console.control.remote import RemoteControl
from console.tui.format import age, hresult_text, state_text
from console.tui.rows import COLUMNS, bind_row
from engine.admin.snapshots import BindSnapshot, IpFilterSpec, RecheckResult
from engine.core.results import Flags, HResult
from engine.service import parse_endpoint

__all__ = ["app", "find_bind", "ip_filter_spec", "overall_result"]

app = typer.Typer(
    help="List, show, allow, terminate and re-check the binds of the running service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class State(enum.StrEnum):
    """The states ``--state`` picks."""

    PENDING = "pending"
    ALLOWED = "allowed"
    TERMINATING = "terminating"


BindId = Annotated[int, typer.Argument(help="The bind's id (see `fwx binds list`).", min=1)]


@app.command("list")
def list_binds(
    state: Annotated[
        State | None, typer.Option("--state", help="Only binds in this state.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Only binds of this user.", metavar="USER")
    ] = None,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the live binds (state, address, who, protocol, flags, IP filter, counters)."""
    binds = [
        bind
        for bind in call(socket, lambda control: control.binds())
        if (state is None or bind.state == state.value) and (user is None or bind.user == user)
    ]
    if as_json:
        print_json(binds)
        return
    stdout.print(_list_table(binds, time.time()))


_NUMBERS = frozenset({"id", "accepted", "discarded", "age"})


def _list_table(binds: Sequence[BindSnapshot], now: float) -> Table:
    """The console's binds table: the same columns, spelled the same way."""
    table = Table(
        title=f"Binds ({len(binds)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    for key, heading in COLUMNS:
        table.add_column(
            heading,
            justify="right" if key in _NUMBERS else "left",
            no_wrap=key in ("id", "address", "state"),
        )
    for bind in binds:
        table.add_row(
            *(cell if isinstance(cell, Text) else Text(str(cell)) for cell in bind_row(bind, now))
        )
    return table


@app.command()
def show(bind_id: BindId, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """Everything about one bind, with its discards by reason and the recent ones."""
    bind = call(socket, lambda control: control.bind(bind_id))
    if bind is None:
        fail(f"no live bind with id {bind_id}", result_exit_code(HResult.NOT_FOUND))
    if as_json:
        print_json(bind)
        return
    stdout.print(_show_table(bind, time.time()))


def _when(wall: float | None, now: float) -> str:
    if wall is None:
        return "never"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(wall))} ({age(now - wall)} ago)"


def _show_table(bind: BindSnapshot, now: float) -> Table:
    table = Table(title=f"Bind {bind.id}", title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    protocol = "none"
    if bind.protocol is not None:
        protocol = (
            f"{bind.protocol_name} ({bind.protocol})" if bind.protocol_name else bind.protocol
        )
    ip_filter = "any remote" if bind.ip_filter is None else "\n".join(bind.ip_filter) or "block all"
    discarded = "\n".join(f"{reason}: {count}" for reason, count in bind.discarded) or "0"
    recent = "\n".join(
        f"{time.strftime('%H:%M:%S', time.localtime(item.time))} {item.remote} {item.reason}"
        for item in bind.recent
    )
    rows: list[tuple[str, str | Text]] = [
        ("state", state_text(bind.state)),
        ("session", f"{bind.session_id} ({bind.who})"),
        ("address", f"{bind.transport}/{bind.address}"),
        ("protocol", protocol),
        ("flags", ", ".join(bind.flag_names) or "none"),
        ("IP filter", ip_filter),
        ("accepted", str(bind.accepted)),
        ("discarded", discarded),
        ("recent discards", recent or "none"),
        ("allowed by", bind.allowed_by or "-"),
        ("allowed at", _when(bind.allowed_at, now)),
        ("created", _when(bind.created, now)),
        ("last seen", _when(bind.last_seen, now)),
    ]
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else Text(value))
    return table


def ip_filter_spec(
    include: Sequence[str], exclude: Sequence[str], set_name: str | None, block_all: bool
) -> IpFilterSpec:
    """The IP filter the allow options ask for; ValueError when they do not go together."""
    if block_all and (include or exclude or set_name is not None):
        raise ValueError("--block-all admits no remote: it goes with no other IP filter option")
    if set_name is not None and (include or exclude):
        raise ValueError("--ip-filter names a whole set: it goes without --include/--exclude")
    if exclude and not include:
        raise ValueError("--exclude needs --include (to admit no remote, use --block-all)")
    if block_all:
        return IpFilterSpec("block")
    if set_name is not None:
        return IpFilterSpec("set", set_name=set_name)
    if include:
        return IpFilterSpec("ranges", include=tuple(include), exclude=tuple(exclude))
    return IpFilterSpec("none")


def find_bind(target: str, binds: Sequence[BindSnapshot]) -> BindSnapshot | None:
    """The live bind at ``target`` (``[tcp/|udp/]HOST:PORT``), or None when there is none.

    ValueError when ``target`` is malformed or names both a TCP and a UDP bind.
    """
    transport, slash, rest = target.partition("/")
    if not slash:
        transport, rest = "", target
    elif transport not in ("tcp", "udp"):
        raise ValueError(f"{target!r}: write tcp/HOST:PORT or udp/HOST:PORT")
    host, port = parse_endpoint(rest)
    wanted = ipaddress.ip_address(host)
    found = [
        bind
        for bind in binds
        if bind.port == port and transport in ("", bind.transport) and _at(bind, wanted)
    ]
    if len(found) > 1:
        ids = ", ".join(f"{bind.transport} {bind.id}" for bind in found)
        raise ValueError(
            f"{target} names more than one bind ({ids}): write tcp/{rest} or udp/{rest}, or the id"
        )
    return found[0] if found else None


def _at(bind: BindSnapshot, wanted: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when ``bind`` listens on ``wanted`` (or on every address)."""
    host = ipaddress.ip_address(bind.host)
    return host == wanted or host.is_unspecified


async def _allow(
    control: RemoteControl, target: str, protocol: str, flags: int, spec: IpFilterSpec
) -> tuple[int | None, HResult | None]:
    """Resolve ``target`` to a bind id and allow it; (None, None) when no bind is there."""
    if target.isdigit():
        bind_id = int(target)
    else:
        try:
            bind = find_bind(target, await control.binds())
        except ValueError as err:
            fail(str(err), ExitCode.USAGE)
        if bind is None:
            return None, None
        bind_id = bind.id
    return bind_id, await control.allow(bind_id, protocol, flags, spec)


@app.command()
def allow(
    target: Annotated[
        str,
        typer.Argument(
            help="The bind: its id, or its address HOST:PORT ([V6]:PORT for IPv6), "
            "tcp/HOST:PORT or udp/HOST:PORT when a TCP and a UDP bind share it.",
            metavar="ID|ADDRESS",
            show_default=False,
        ),
    ],
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="The protocol the bind is for: a name or a GUID.",
            metavar="NAME|GUID",
            show_default=False,
        ),
    ],
    bidirectional: Annotated[
        bool, typer.Option("--bidirectional", help="UDP only: let the bind answer its remotes.")
    ] = False,
    increase_receive_buffer: Annotated[
        bool,
        typer.Option("--increase-receive-buffer", help="UDP only: a larger receive buffer."),
    ] = False,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include", help="Admit only these remotes (address, CIDR, a-b).", metavar="CIDR"
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Except these (with --include).", metavar="CIDR"),
    ] = None,
    ip_filter: Annotated[
        str | None,
        typer.Option("--ip-filter", help="Admit the remotes of this IP filter set.", metavar="SET"),
    ] = None,
    block_all: Annotated[
        bool, typer.Option("--block-all", help="Admit no remote at all (an empty IP filter).")
    ] = False,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Retroactively allow a pending bind; prints the result code and exits with it.

    With no IP filter option, any remote may reach the bind.
    """
    try:
        spec = ip_filter_spec(include or (), exclude or (), ip_filter, block_all)
    except ValueError as err:
        fail(str(err), ExitCode.USAGE)
    flags = Flags.NONE
    if bidirectional:
        flags |= Flags.BIDIRECTIONAL
    if increase_receive_buffer:
        flags |= Flags.INCREASE_RECEIVE_BUFFER
    bind_id, result = call(
        socket, lambda control: _allow(control, target, protocol, int(flags), spec)
    )
    if bind_id is None or result is None:
        fail(f"no live bind at {target}", result_exit_code(HResult.NOT_FOUND))
    exit_with(result, f"bind {bind_id}", as_json=as_json)


@app.command()
def terminate(bind_id: BindId, socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """End a bind: its socket is closed and its opening removed."""
    result = call(socket, lambda control: control.terminate(bind_id))
    ending = "the bind is ending: its socket is closed, its opening removed"
    exit_with(result, f"bind {bind_id}", done=ending, as_json=as_json)


async def _recheck(control: RemoteControl, bind_ids: Sequence[int]) -> list[RecheckResult]:
    ids = list(bind_ids) or [bind.id for bind in await control.binds() if bind.state == "pending"]
    return await control.recheck(ids) if ids else []


def overall_result(results: Sequence[RecheckResult]) -> HResult:
    """One result for several: the first failure, else ``S_FALSE`` if any, else ``S_OK``."""
    codes = [item.result for item in results]
    failed = [code for code in codes if not code.succeeded]
    if failed:
        return failed[0]
    return HResult.S_FALSE if HResult.S_FALSE in codes else HResult.S_OK


@app.command()
def recheck(
    bind_ids: Annotated[
        list[int] | None,
        typer.Argument(help="The binds (default: every pending bind).", metavar="[ID]...", min=1),
    ] = None,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply the bind-time decision again to pending binds (after a rules reload)."""
    results = call(socket, lambda control: _recheck(control, bind_ids or ()))
    if as_json:
        print_json(results)
    elif not results:
        stdout.print("no pending binds to re-check")
    else:
        for item in results:
            stdout.print(f"bind {item.bind_id}: {hresult_text(item.result)}", markup=False)
    raise typer.Exit(result_exit_code(overall_result(results)))
