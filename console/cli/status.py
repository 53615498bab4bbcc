"""`fwx status`: is a service running, where, since when, and its totals.

Exit codes (see :class:`console.cli.common.ExitCode`): 0 the service
answered; 4 no service listens at the admin socket; 5 the socket refused
this user; 3 the socket could not be used.
"""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text

from console.cli.common import stdout
from console.cli.live import JsonOption, call, print_json
from console.cli.service_options import SocketOption
from console.tui.format import age
from engine.admin.snapshots import StatusSnapshot

__all__ = ["status", "status_table"]


def status(socket: SocketOption = None, as_json: JsonOption = False) -> None:
    """Show the running service: version, pid, uptime, addresses, files and totals."""
    snapshot = call(socket, lambda control: control.status())
    if as_json:
        print_json(snapshot)
        return
    stdout.print(status_table(snapshot, time.time()))


def status_table(snapshot: StatusSnapshot, now: float) -> Table:
    """Two columns, key and value; the audit log's error (if any) in red."""
    table = Table(title="fwx service: running", title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snapshot.started))
    rows = [
        ("version", snapshot.version),
        ("pid", str(snapshot.pid)),
        ("uptime", f"{age(now - snapshot.started)} (since {started})"),
        ("listen", snapshot.listen),
        ("external", snapshot.external),
        ("rule file", snapshot.rules_path),
        ("packet filtering", "on" if snapshot.packet_filtering else "off"),
        ("admin socket", snapshot.admin_socket or "none"),
        ("audit log", snapshot.audit_path or "none"),
    ]
    for key, value in rows:
        table.add_row(key, Text(value))
    if snapshot.audit_error is not None:
        table.add_row("audit error", Text(snapshot.audit_error, style="bold red"))
    binds = (
        f"{snapshot.binds} ({snapshot.pending} pending, {snapshot.allowed} allowed, "
        f"{snapshot.terminating} terminating)"
    )
    totals = [
        ("connections", str(snapshot.connections)),
        ("sessions", str(snapshot.sessions)),
        ("binds", binds),
        ("openings", str(snapshot.openings)),
        ("protocols", str(snapshot.protocols)),
        ("protocol rules", str(snapshot.rules)),
        ("inbound accepted", str(snapshot.accepted)),
        ("inbound discarded", str(snapshot.discarded)),
    ]
    for key, value in totals:
        table.add_row(key, value)
    return table
