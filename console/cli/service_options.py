"""Options shared by the commands that run or reach a service: admin socket and audit log.

`fwx serve` and `fwx console` run a service and expose it on the admin
socket, recording its history in the audit log; the one-shot commands reach
the same socket and read the same log. All of them find the same defaults
here, overridable by option or environment variable, so a shell that sets
``FWX_ADMIN_SOCKET`` once reaches the right service with every command.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from engine.admin.paths import default_socket_path
from engine.audit import AuditOptions

__all__ = [
    "AuditDbOption",
    "AuditMaxSizeOption",
    "AuditRetentionOption",
    "NoAdminOption",
    "NoAuditOption",
    "ServiceExtras",
    "SocketOption",
    "default_audit_path",
    "parse_duration",
    "parse_size",
    "resolve_socket",
]

SOCKET_ENV = "FWX_ADMIN_SOCKET"
AUDIT_ENV = "FWX_AUDIT_DB"


def default_audit_path() -> Path:
    """``$FWX_AUDIT_DB``; else ``/var/lib/fwx/audit.sqlite`` (root) or in ``$XDG_STATE_HOME``."""
    configured = os.environ.get(AUDIT_ENV)
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/lib/fwx/audit.sqlite")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "fwx" / "audit.sqlite"


def resolve_socket(path: Path | None) -> Path:
    """The admin socket a command uses: ``path`` when given, else the default."""
    return path if path is not None else default_socket_path()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_BYTES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``10m``, ``2h``, ``30d``, ``1w``; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 10m, 2h, 30d)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def parse_size(text: str) -> int:
    """Bytes in ``1000``, ``64K``, ``256MB``, ``1GiB``; ValueError otherwise."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size (e.g. 64MB, 1GB)")
    unit = match.group(2)[:1].lower()
    return int(float(match.group(1)) * _BYTES[unit])


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


SocketOption = Annotated[
    Path | None,
    typer.Option(
        "--socket",
        envvar=SOCKET_ENV,
        readable=False,
        help="The admin socket (default: $XDG_RUNTIME_DIR/fwx/admin.sock, or /run/fwx/admin.sock "
        "for root).",
        metavar="PATH",
        show_default=False,
    ),
]
NoAdminOption = Annotated[bool, typer.Option("--no-admin", help="Do not open the admin socket.")]
AuditDbOption = Annotated[
    Path | None,
    typer.Option(
        "--audit",
        envvar=AUDIT_ENV,
        help="The audit log (SQLite; default: /var/lib/fwx/audit.sqlite for root, else "
        "$XDG_STATE_HOME/fwx/audit.sqlite).",
        metavar="PATH",
        show_default=False,
    ),
]
NoAuditOption = Annotated[bool, typer.Option("--no-audit", help="Do not keep an audit log.")]
AuditRetentionOption = Annotated[
    float,
    typer.Option(
        "--audit-retention",
        parser=_duration,
        help="Delete audit rows older than this (e.g. 30d, 12h).",
        metavar="DURATION",
    ),
]
AuditMaxSizeOption = Annotated[
    int,
    typer.Option(
        "--audit-max-size",
        parser=_size,
        help="Keep the audit file under this size by deleting its oldest rows (e.g. 256MB).",
        metavar="SIZE",
    ),
]


@dataclass(frozen=True, slots=True)
class ServiceExtras:
    """What a service runs besides the SOCKS server: its admin socket and its audit log."""

    admin_socket: Path | None
    audit: AuditOptions | None

    @classmethod
    def from_options(
        cls,
        socket: Path | None,
        no_admin: bool,
        audit: Path | None,
        no_audit: bool,
        retention: float,
        max_size: int,
    ) -> ServiceExtras:
        """The extras the command line asks for, defaults filled in."""
        if no_admin and socket is not None and SOCKET_ENV not in os.environ:
            raise typer.BadParameter("--socket and --no-admin contradict each other")
        if no_audit and audit is not None and AUDIT_ENV not in os.environ:
            raise typer.BadParameter("--audit and --no-audit contradict each other")
        return cls(
            admin_socket=None if no_admin else resolve_socket(socket),
            audit=None
            if no_audit
            else AuditOptions(
                audit or default_audit_path(), retention=retention, max_bytes=max_size
            ),
        )
