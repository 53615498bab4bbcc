"""`fwx console`: the operator console, with the service embedded.

The service (SOCKS listener, engine, rule file) runs on its own thread and
event loop; the console talks to it only through the control interface.
With no rule file, a starter one is written first (as `fwx rules init`) and
the console says where. ``--demo`` adds loopback traffic on a copy of the
starter rules with demo protocols, so nothing of the operator's is touched.
The embedded service opens an admin socket and keeps an audit log like
`fwx serve` (same options); when another service already answers on the
socket, the console runs without one and says so. ``--attach [SOCKET]``
runs no service: the same console attaches to a running one over its admin
socket (default: as `fwx serve` makes it).

Exit codes (see :class:`console.cli.common.ExitCode`): 0 the console was
closed; 1 the rule file is invalid (every problem, one line each) or the
service refused to start; 2 bad command line; 3 a file could not be read or
written, the listening address could not be bound, or the audit file
cannot be opened; with ``--attach``, 4 no
service listens at the socket and 5 the socket refused this user (see
:mod:`console.cli.live`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from console.cli.common import ExitCode, fail, stderr
from console.cli.live import connected
from console.cli.service_options import (
    AuditDbOption,
    AuditMaxSizeOption,
    AuditRetentionOption,
    NoAdminOption,
    NoAuditOption,
    ServiceExtras,
    SocketOption,
)
from console.control.local import LocalControl
from console.tui.demo import Demo, write_demo_rules
from engine.admin.errors import AdminSocketError
from engine.audit import AuditError
from engine.service import Service, ServiceError
from rules.errors import RuleFileError, RuleFileUnreadable
from rules.saver import write_text
from rules.starter import STARTER_TEXT

if TYPE_CHECKING:
    from console.tui.app import ConsoleApp

__all__ = ["console"]


def console(
    attach_socket: Annotated[
        Path | None,
        typer.Argument(
            help="With --attach: the admin socket (default: as `fwx serve` makes it).",
            metavar="SOCKET",
            show_default=False,
        ),
    ] = None,
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
    attach: Annotated[
        bool,
        typer.Option("--attach", help="Attach to a running service instead of running one."),
    ] = False,
    socket: SocketOption = None,
    no_admin: NoAdminOption = False,
    audit: AuditDbOption = None,
    no_audit: NoAuditOption = False,
    audit_retention: AuditRetentionOption = "30d",
    audit_max_size: AuditMaxSizeOption = "256MB",
) -> None:
    """Run the service and watch it live: binds, approvals, rules, events."""
    if attach or attach_socket is not None:
        _attach(attach, attach_socket or socket, demo or listen is not None or external is not None)
        return
    extras = ServiceExtras.from_options(
        socket, no_admin, audit, no_audit, audit_retention, audit_max_size
    )
    with _rule_file(rules, demo) as (path, notes):
        if demo and extras.audit is not None:
            extras = dataclasses.replace(
                extras, audit=dataclasses.replace(extras.audit, path=path.parent / "audit.sqlite")
            )
        control = _start(path, listen, external, notes, extras)
        app_class = _console_app()
        service = control.service
        traffic = Demo(control, service.address) if demo else None
        try:
            if traffic is not None:
                traffic.start()
            app_class(control).run()
        finally:
            if traffic is not None:
                traffic.stop()
            control.stop()


def _attach(attach: bool, socket: Path | None, runs_service: bool) -> None:
    """The console over the admin socket of a running service, until it is closed."""
    if not attach:
        fail("SOCKET goes with --attach", ExitCode.USAGE)
    if runs_service:
        fail("--attach runs no service: leave out --demo, --listen, --external", ExitCode.USAGE)

    app_class = _console_app()

    async def run() -> None:
        async with connected(socket) as control:
            await app_class(control).run_async()

    asyncio.run(run())


def _console_app() -> type[ConsoleApp]:
    """The console's app class, imported only when a console runs.

    Textual takes about half a second to import; every other `fwx` command
    loads this module too, and starts that much faster without it.
    """
    from console.tui.app import ConsoleApp

    return ConsoleApp


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
    path: Path,
    listen: str | None,
    external: str | None,
    notes: tuple[str, ...],
    extras: ServiceExtras,
) -> LocalControl:
    """Start the service, or explain in one line (per problem) why it cannot start.

    When the admin socket cannot be opened (another service answers there),
    the console runs without one and says so: the operator still gets a console.
    """
    try:
        try:
            control = _started(path, listen, external, notes, extras)
        except AdminSocketError as err:
            note = f"No admin socket: {err}."
            stderr.print(note, markup=False, soft_wrap=True)
            extras = dataclasses.replace(extras, admin_socket=None)
            control = _started(path, listen, external, (*notes, note), extras)
    except AuditError as err:
        fail(str(err), ExitCode.IO_ERROR)
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


def _started(
    path: Path,
    listen: str | None,
    external: str | None,
    notes: tuple[str, ...],
    extras: ServiceExtras,
) -> LocalControl:
    service = Service(
        path,
        listen=listen,
        external=external,
        admin_socket=extras.admin_socket,
        audit=extras.audit,
    )
    control = LocalControl(service, notes=notes)
    control.start()
    return control
