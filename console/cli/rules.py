"""`fwx rules …`: create, check, show rule files, set user passwords, reload a running service.

``reload`` lives in :mod:`console.cli.reload` (it talks to a running
service). Exit codes (see :class:`console.cli.common.ExitCode`): 0 success;
1 the rule file is invalid or the request was refused (file exists, unknown
user, passwords differ); 2 bad command line; 3 the file could not be read or
written.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from console.cli.common import ExitCode, fail, stderr, stdout
from engine.filters.registry import require_filters
from rules import (
    STARTER_TEXT,
    AuthMode,
    RuleFileError,
    RuleFileUnreadable,
    RuleSet,
    backup_path,
    format_guid,
    hash_password,
    load,
    save,
    write_text,
)
from rules.errors import did_you_mean

__all__ = ["app"]

app = typer.Typer(
    help="Create, check and show rule files; set user passwords; reload a running service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathArgument = Annotated[
    Path, typer.Argument(help="The rule file (TOML).", metavar="PATH", show_default=False)
]


def _load(path: Path, *, allow_missing_passwords: bool = False) -> RuleSet:
    """The rule set at ``path``, or every problem on standard error and exit 1 (3 if unreadable)."""
    try:
        return load(path, allow_missing_passwords=allow_missing_passwords)
    except RuleFileUnreadable as err:
        fail(str(err), ExitCode.IO_ERROR)
    except RuleFileError as err:
        _report(path, err)


def _report(path: Path, err: RuleFileError) -> NoReturn:
    """Every problem on standard error, one line each, then a count and exit 1."""
    for problem in err.problems:
        stderr.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    fail(f"{path}: {_count(len(err.problems), 'problem')}", ExitCode.INVALID)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _summary(ruleset: RuleSet) -> str:
    enabled = sum(rule.enabled for rule in ruleset.rules)
    return ", ".join(
        (
            _count(len(ruleset.protocols), "protocol"),
            f"{_count(len(ruleset.rules), 'rule')} ({enabled} enabled)",
            _count(len(ruleset.ip_filters), "IP filter set"),
            _count(len(ruleset.client_sets), "client set"),
            _count(len(ruleset.users), "user"),
            f"authentication {ruleset.service.authentication.value}",
        )
    )


@app.command()
def init(
    path: PathArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing file (kept as NAME.bak).")
    ] = False,
) -> None:
    """Write a starter rule file with commented examples."""
    if path.exists() and not force:
        fail(f"{path} already exists; use --force to replace it", ExitCode.INVALID)
    try:
        write_text(path, STARTER_TEXT)
    except OSError as err:
        fail(f"cannot write {path}: {err.strerror or err}", ExitCode.IO_ERROR)
    stdout.print(
        f"wrote {path}; check it with: fwx rules check {path}", markup=False, soft_wrap=True
    )


@app.command()
def check(path: PathArgument) -> None:
    """Validate a rule file: a one-line summary, or every problem (exit 1).

    Beyond the file itself, the application filters it names must be
    installed, as `fwx serve` requires.
    """
    ruleset = _load(path)
    try:
        require_filters(ruleset, path)
    except RuleFileError as err:
        _report(path, err)
    stdout.print(f"{path}: OK: {_summary(ruleset)}", markup=False, soft_wrap=True)


@app.command()
def show(
    path: PathArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show a rule file as tables (or JSON); password hashes are never shown."""
    ruleset = _load(path)
    if as_json:
        typer.echo(json.dumps(_as_json(ruleset), indent=2, ensure_ascii=False))
        return
    for table in _tables(ruleset):
        stdout.print(table)


@app.command()
def passwd(
    path: PathArgument,
    user: Annotated[str, typer.Argument(help="The user whose password to set.", metavar="USER")],
) -> None:
    """Set a user's password (stored as a salted scrypt hash).

    On a terminal the password is asked for twice; otherwise two lines are
    read from standard input, for scripts.
    """
    ruleset = _load(path, allow_missing_passwords=True)
    names = [item.name for item in ruleset.users]
    if user not in names:
        fail(f"{path}: no user named {user!r}{did_you_mean(user, names)}", ExitCode.INVALID)
    encoded = hash_password(_read_password(user))
    users = tuple(
        dataclasses.replace(item, password=encoded) if item.name == user else item
        for item in ruleset.users
    )
    try:
        save(dataclasses.replace(ruleset, users=users), path, allow_missing_passwords=True)
    except OSError as err:
        fail(f"cannot write {path}: {err.strerror or err}", ExitCode.IO_ERROR)
    stdout.print(
        f"password of {user!r} set in {path} (comments are not kept; "
        f"the previous file is {backup_path(path)})",
        markup=False,
        soft_wrap=True,
    )
    missing = [item.name for item in users if item.password is None]
    if missing and ruleset.service.authentication is AuthMode.PASSWORD:
        stderr.print(
            f"fwx: note: still without a password: {', '.join(missing)}; "
            'the file will not load with authentication = "password" until they have one',
            markup=False,
            soft_wrap=True,
        )


def _read_password(user: str) -> str:
    """The new password, typed twice; one line error and exit 1 when unusable."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"New password for {user}: ")
        second = getpass.getpass("Repeat it: ")
    else:
        lines = [sys.stdin.readline(), sys.stdin.readline()]
        if not all(lines):
            fail("expected the password twice on standard input, one per line", ExitCode.INVALID)
        first, second = (line.rstrip("\r\n") for line in lines)
    if first != second:
        fail("the two passwords differ; nothing was changed", ExitCode.INVALID)
    if not first:
        fail("the password must not be empty; nothing was changed", ExitCode.INVALID)
    return first


def _as_json(ruleset: RuleSet) -> dict[str, Any]:
    service = ruleset.service
    return {
        "version": ruleset.version,
        "service": {
            "listen": service.listen,
            "external": service.external,
            "packet_filtering": service.packet_filtering,
            "pending_bind_timeout": service.pending_bind_timeout,
            "max_binds_per_session": service.max_binds_per_session,
            "authentication": service.authentication.value,
            "bind_ports": None
            if service.bind_ports is None
            else "-".join(map(str, service.bind_ports)),
            "udp_peer_timeout": service.udp_peer_timeout,
            "description": service.description,
        },
        "protocols": [
            {
                "name": proto.name,
                "guid": format_guid(proto.guid),
                "primary": {
                    "port": proto.primary.port,
                    "transport": proto.primary.transport.label,
                    "direction": proto.primary.direction.value,
                },
                "secondary": [
                    {
                        "ports": second.ports_text,
                        "transport": second.transport.label,
                        "direction": second.direction.value,
                    }
                    for second in proto.secondary
                ],
                "filter": proto.filter,
                "description": proto.description,
            }
            for proto in ruleset.protocols
        ],
        "rules": [
            {
                "name": rule.name,
                "action": rule.action.value,
                "protocols": list(rule.protocols),
                "except_protocols": rule.except_protocols,
                "users": list(rule.users),
                "clients": list(rule.clients),
                "enabled": rule.enabled,
                "description": rule.description,
            }
            for rule in ruleset.rules
        ],
        "ip_filters": [dataclasses.asdict(item) for item in ruleset.ip_filters],
        "client_sets": [dataclasses.asdict(item) for item in ruleset.client_sets],
        "users": [
            {
                "name": user.name,
                "groups": list(user.groups),
                "password": "none" if user.password is None else "set",
                "description": user.description,
            }
            for user in ruleset.users
        ],
    }


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _tables(ruleset: RuleSet) -> list[Table]:
    """Service, protocols, rules, IP filter sets, client sets, users: one table each."""
    data = _as_json(ruleset)
    service = [
        [key, str(value)] for key, value in data["service"].items() if value not in ("", None)
    ]
    protocols = [
        [
            proto["name"],
            proto["guid"],
            "{port}/{transport} {direction}".format(**proto["primary"]),
            "\n".join("{ports}/{transport} {direction}".format(**s) for s in proto["secondary"]),
            proto["filter"] or "",
            proto["description"],
        ]
        for proto in data["protocols"]
    ]
    rules = [
        [
            rule["name"],
            rule["action"],
            ("all except " if rule["except_protocols"] else "") + ", ".join(rule["protocols"]),
            ", ".join(rule["users"]),
            ", ".join(rule["clients"]),
            "yes" if rule["enabled"] else "no",
            rule["description"],
        ]
        for rule in data["rules"]
    ]
    filters = [
        [item["name"], "\n".join(item["include"]), "\n".join(item["exclude"]), item["description"]]
        for item in data["ip_filters"]
    ]
    client_sets = [
        [
            item["name"],
            "\n".join(item["addresses"]),
            "\n".join(item["exclude"]),
            item["description"],
        ]
        for item in data["client_sets"]
    ]
    users = [
        [user["name"], ", ".join(user["groups"]), user["password"], user["description"]]
        for user in data["users"]
    ]
    return [
        _table("Service", ["key", "value"], service),
        _table(
            "Protocols",
            ["name", "GUID", "primary", "secondary", "filter", "description"],
            protocols,
        ),
        _table(
            "Protocol rules",
            ["name", "action", "protocols", "users", "clients", "enabled", "description"],
            rules,
        ),
        _table("IP filter sets", ["name", "include", "exclude", "description"], filters),
        _table("Client sets", ["name", "addresses", "exclude", "description"], client_sets),
        _table("Users", ["name", "groups", "password", "description"], users),
    ]
