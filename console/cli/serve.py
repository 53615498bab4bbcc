"""`fwx serve --rules PATH`: run the firewall service headless until a signal stops it.

Logs one line per significant event on standard error: the listener, and
the engine's events (logins, binds created/allowed/closed/expired, refused
allows, accepted inbound connections, refused CONNECTs, discard summaries
once per bind and second, reloads) — never one per packet, and not what
comes with every client connection (accepted CONNECTs, anonymous sessions).
Operators reach the service through its admin socket (``--socket``) and
read its history in the audit log (``--audit``). SIGINT and SIGTERM stop
the service cleanly (every bind and relay closed, the audit log flushed);
SIGHUP reloads the rule file like ``fwx rules reload``, keeping the rules in
force when the new file is invalid.

``--user NAME[:GROUP]`` (root only): once the SOCKS listener, the admin
socket and the audit log are open, the service hands the admin socket's
folder and the audit files to NAME and becomes NAME for good (see
:mod:`engine.privileges`); the rule file must be readable by NAME for
reloads to work.

Exit codes (see :class:`console.cli.common.ExitCode`): 0 stopped by a
signal; 1 the rule file is invalid, or the configuration is refused (a
non-loopback listener without ``authentication = "password"``); 2 bad
command line (``--user`` when not root, or naming an unknown user or group,
or root); 3 the rule file cannot be read, the listening address cannot
be bound, the admin socket path is taken or unusable, the audit file
cannot be opened, or the service cannot become the ``--user`` account.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import resource
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from console.cli.common import ExitCode, fail, stderr
from console.cli.service_options import (
    AuditDbOption,
    AuditMaxSizeOption,
    AuditRetentionOption,
    NoAdminOption,
    NoAuditOption,
    ServiceExtras,
    SocketOption,
)
from engine.admin.convert import key_values
from engine.admin.errors import AdminSocketError
from engine.admin.snapshots import ReloadOutcome
from engine.audit import AuditError
from engine.core import Event, EventKind, Gap, Subscription
from engine.privileges import Account, PrivilegeError, drop_privileges, reclaim, resolve_account
from engine.service import Service, ServiceError, endpoint_text, parse_address, parse_endpoint
from engine.socks.server import ServerOptions
from rules.errors import RuleFileError, RuleFileUnreadable

__all__ = ["format_event", "serve"]

logger = logging.getLogger("fwx")
_DEFAULTS = ServerOptions()
events_logger = logging.getLogger("fwx.events")

_DRAIN_INTERVAL = 0.25
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def serve(
    rules: Annotated[
        Path,
        typer.Option(
            "--rules",
            help="The rule file to enforce (TOML, as for `fwx rules check`); SIGHUP reloads it.",
            metavar="PATH",
            show_default=False,
        ),
    ],
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="Where the SOCKS5 server listens "
            "(default: the rule file's service.listen, 127.0.0.1:1080).",
            metavar="HOST:PORT",
            show_default=False,
        ),
    ] = None,
    external: Annotated[
        str | None,
        typer.Option(
            "--external",
            help="The address binds listen on and connections leave from "
            "(default: the rule file's service.external).",
            metavar="ADDR",
            show_default=False,
        ),
    ] = None,
    socket: SocketOption = None,
    no_admin: NoAdminOption = False,
    audit: AuditDbOption = None,
    no_audit: NoAuditOption = False,
    audit_retention: AuditRetentionOption = "30d",
    audit_max_size: AuditMaxSizeOption = "256MB",
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="Once listening, become this user (and group; root only): it gets the admin "
            "socket's folder and the audit files, and must be able to read the rule file.",
            metavar="NAME[:GROUP]",
            show_default=False,
        ),
    ] = None,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            min=1,
            help="Client connections served at once; more are closed on arrival.",
        ),
    ] = _DEFAULTS.max_connections,
    max_sessions: Annotated[
        int,
        typer.Option(
            "--max-sessions",
            min=1,
            help="Distinct (client, user) identities at once; a new one past this gets 0x01.",
        ),
    ] = _DEFAULTS.max_sessions,
    handshake_timeout: Annotated[
        float,
        typer.Option(
            "--handshake-timeout",
            min=0.1,
            help="Seconds a client gets for each handshake message (greeting, login, request).",
            metavar="SECONDS",
        ),
    ] = _DEFAULTS.phase_timeout,
) -> None:
    """Run the firewall service until SIGINT or SIGTERM; SIGHUP reloads the rules."""
    _check_usage(listen, external)
    extras = ServiceExtras.from_options(
        socket, no_admin, audit, no_audit, audit_retention, audit_max_size
    )
    account = None if user is None else _account(user, extras)
    options = dataclasses.replace(
        _DEFAULTS,
        max_connections=max_connections,
        max_sessions=max_sessions,
        phase_timeout=handshake_timeout,
    )
    _raise_descriptor_limit()
    service = _service(rules, listen, external, extras, options)
    code = asyncio.run(_run(service, account))
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


def _check_usage(listen: str | None, external: str | None) -> None:
    """Refuse malformed addresses as a usage error, before touching the rule file."""
    try:
        if listen is not None:
            parse_endpoint(listen)
        if external is not None:
            parse_address(external)
    except ValueError as err:
        fail(str(err), ExitCode.USAGE)


def _account(user: str, extras: ServiceExtras) -> Account:
    """The ``--user`` account (one line and exit 2 when unusable), its socket folder taken back."""
    try:
        account = resolve_account(user)
    except PrivilegeError as err:
        fail(str(err), ExitCode.USAGE)
    try:
        reclaim(account, extras.admin_socket)
    except PrivilegeError as err:
        fail(str(err), ExitCode.IO_ERROR)
    return account


def _raise_descriptor_limit() -> None:
    """Let the service use every descriptor its hard limit allows (each relay takes two).

    Service managers often start processes with a soft limit of 1,024,
    which would cap the service near 500 relays whatever ``--max-connections`` says.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _service(
    rules: Path,
    listen: str | None,
    external: str | None,
    extras: ServiceExtras,
    options: ServerOptions,
) -> Service:
    """The configured service, or a one-line reason (every problem for a bad rule file)."""
    try:
        return Service(
            rules,
            listen=listen,
            external=external,
            options=options,
            admin_socket=extras.admin_socket,
            audit=extras.audit,
        )
    except RuleFileUnreadable as err:
        fail(str(err), ExitCode.IO_ERROR)
    except RuleFileError as err:
        for problem in err.problems:
            stderr.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        count = len(err.problems)
        fail(f"{rules}: {count} problem{'s' if count != 1 else ''}", ExitCode.INVALID)
    except ServiceError as err:
        fail(str(err), ExitCode.INVALID)


async def _run(service: Service, account: Account | None = None) -> ExitCode:
    """Serve until a stop signal (as ``account`` once listening, when given); the exit code."""
    _configure_logging()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_log_loop_error)
    subscription = service.engine.subscribe()
    try:
        await service.start()
    except (AdminSocketError, AuditError) as err:
        logger.error("%s", err)
        return ExitCode.IO_ERROR
    except OSError as err:
        logger.error("cannot listen on %s: %s", endpoint_text(service.listen), err.strerror or err)
        return ExitCode.IO_ERROR
    if account is not None:
        try:
            drop_privileges(service, account)
        except PrivilegeError as err:
            logger.error("%s", err)
            await service.stop()
            return ExitCode.IO_ERROR
    stop = asyncio.Event()
    for number in _STOP_SIGNALS:
        loop.add_signal_handler(number, stop.set)
    reloads: set[asyncio.Task[ReloadOutcome]] = set()
    loop.add_signal_handler(signal.SIGHUP, _reload, service, reloads)
    log = _EventLog(subscription)
    pump = asyncio.ensure_future(_log_events(log))
    try:
        await stop.wait()
        logger.info("stopping")
    finally:
        for number in (*_STOP_SIGNALS, signal.SIGHUP):
            loop.remove_signal_handler(number)
        await service.stop()
        pump.cancel()
        log.drain()
        subscription.close()
    logger.info("stopped")
    return ExitCode.OK


def _reload(service: Service, running: set[asyncio.Task[ReloadOutcome]]) -> None:
    """SIGHUP: reload the rule file (logged and audited like any operator's reload)."""
    logger.info("reloading %s", service.rules_path)
    task = asyncio.ensure_future(service.operations.reload(actor="signal:SIGHUP"))
    running.add(task)
    task.add_done_callback(running.discard)


async def _log_events(log: _EventLog) -> None:
    while True:
        await asyncio.sleep(_DRAIN_INTERVAL)
        log.drain()


class _EventLog:
    """Writes a subscription's events as log lines, leaving out the per-connection ones.

    Accepted CONNECTs and anonymous sessions come and go with every client
    connection; they are not logged. Sessions of authenticated users (logins)
    are, from creation to end.
    """

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription
        self._logins: set[int] = set()

    def drain(self) -> None:
        """Log everything queued so far."""
        for item in self._subscription.drain():
            if isinstance(item, Gap):
                events_logger.warning("%d events were not logged (too many at once)", item.missed)
            elif self._worth_a_line(item):
                events_logger.info("%s", format_event(item))

    def _worth_a_line(self, event: Event) -> bool:
        if event.kind is EventKind.CONNECT:
            return event.detail.get("verdict") != "accept"
        if event.kind is EventKind.SESSION_CREATED:
            flags = event.detail.get("flags")
            if isinstance(flags, list) and "authenticated" in flags and event.session_id:
                self._logins.add(event.session_id)
                return True
            return False
        if event.kind is EventKind.SESSION_ENDED:
            if event.session_id in self._logins:
                self._logins.discard(event.session_id)
                return True
            return False
        return True


def format_event(event: Event) -> str:
    """One line for an engine event: its kind, ids, then its details as key=value."""
    parts = [event.kind.value]
    if event.session_id is not None:
        parts.append(f"session={event.session_id}")
    if event.bind_id is not None:
        parts.append(f"bind={event.bind_id}")
    if event.detail:
        parts.append(key_values(event.detail))
    return " ".join(parts)


def _configure_logging() -> None:
    """Log lines to standard error (once per process, however often ``serve`` runs)."""
    if not any(isinstance(handler, _Handler) for handler in logger.handlers):
        handler = _Handler(sys.stderr)
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The standard-error handler ``fwx serve`` installs."""


class _Formatter(logging.Formatter):
    """``TIME message``; warnings and errors say their level; never a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {prefix}{record.getMessage()}"


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Unexpected errors inside the event loop: one line, never a traceback."""
    error = context.get("exception")
    message = context.get("message", "event loop error")
    if error is None:
        logger.error("%s", message)
    else:
        logger.error("%s: %r", message, error)
