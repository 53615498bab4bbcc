"""Writing rule files: canonical TOML, and a save that never leaves a broken file.

:func:`dumps` gives one spelling per rule set (fixed key order, GUIDs lower
case without braces, every value formatted by ``tomli-w``), so saving twice
gives identical bytes and a diff shows only real changes. Arrays and the
``primary`` table are written inline, as a person would write them. Comments do not
survive; ``description`` keys do.

:func:`save` refuses an invalid rule set, then writes a temporary file in the
same folder, ``fsync``\\ s it, keeps the previous file as ``NAME.bak`` (a hard
link, or a copy where links are not supported), renames the temporary file
over the old one with :func:`os.replace` and ``fsync``\\ s the folder. At any
instant, even if the process is killed, the file is the old version or the
new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

import tomli_w

from rules.errors import Problem, RuleFileError
from rules.model import (
    ClientSet,
    IpFilterSet,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    ServiceConfig,
    User,
    format_guid,
)
from rules.validate import validate

__all__ = ["backup_path", "dumps", "save", "write_text"]

_NEW_FILE_MODE = 0o600
_LINE_LENGTH = 100


def _number(value: float) -> int | float:
    """Whole seconds are written as integers (``120``, not ``120.0``); they load back equal."""
    return int(value) if value.is_integer() else value


def _with_description(table: dict[str, Any], description: str) -> dict[str, Any]:
    if description:
        table["description"] = description
    return table


def _with_list(table: dict[str, Any], key: str, values: tuple[str, ...]) -> dict[str, Any]:
    """Optional lists (``exclude``, ``groups``) are written only when not empty."""
    if values:
        table[key] = list(values)
    return table


def _service(service: ServiceConfig) -> dict[str, Any]:
    table: dict[str, Any] = {
        "listen": service.listen,
        "external": service.external,
        "packet_filtering": service.packet_filtering,
        "pending_bind_timeout": _number(service.pending_bind_timeout),
        "max_binds_per_session": service.max_binds_per_session,
        "authentication": service.authentication.value,
        "udp_peer_timeout": _number(service.udp_peer_timeout),
    }
    if service.bind_ports is not None:
        low, high = service.bind_ports
        table["bind_ports"] = f"{low}-{high}"
    return _with_description(table, service.description)


def _protocol(proto: ProtocolDefinition) -> dict[str, Any]:
    primary = proto.primary
    table: dict[str, Any] = {
        "name": proto.name,
        "guid": format_guid(proto.guid),
        "primary": {
            "port": primary.port,
            "transport": primary.transport.label,
            "direction": primary.direction.value,
        },
    }
    if proto.secondary:
        table["secondary"] = [
            {
                "ports": second.ports_text,
                "transport": second.transport.label,
                "direction": second.direction.value,
            }
            for second in proto.secondary
        ]
    if proto.filter is not None:
        table["filter"] = proto.filter
    return _with_description(table, proto.description)


def _ip_filter(item: IpFilterSet) -> dict[str, Any]:
    table = _with_list({"name": item.name, "include": list(item.include)}, "exclude", item.exclude)
    return _with_description(table, item.description)


def _client_set(item: ClientSet) -> dict[str, Any]:
    table = {"name": item.name, "addresses": list(item.addresses)}
    return _with_description(_with_list(table, "exclude", item.exclude), item.description)


def _user(user: User) -> dict[str, Any]:
    table = _with_list({"name": user.name}, "groups", user.groups)
    if user.password is not None:
        table["password"] = user.password
    return _with_description(table, user.description)


def _rule(rule: ProtocolRule) -> dict[str, Any]:
    table: dict[str, Any] = {
        "name": rule.name,
        "action": rule.action.value,
        "protocols": list(rule.protocols),
        "users": list(rule.users),
        "clients": list(rule.clients),
        "enabled": rule.enabled,
    }
    if rule.except_protocols:
        table["except_protocols"] = True
    return _with_description(table, rule.description)


def _literal(value: object) -> str:
    """One value on one line: scalars as ``tomli-w`` writes them, tables and arrays inline."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_literal(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return tomli_w.dumps({"v": value}).removeprefix("v = ").rstrip("\n")


def _inline(table: dict[str, Any]) -> str:
    """``key = value`` lines; an array too long for one line gets one element per line."""
    lines = []
    for key, value in table.items():
        line = f"{key} = {_literal(value)}"
        if isinstance(value, list) and len(line) > _LINE_LENGTH:
            items = "".join(f"    {_literal(item)},\n" for item in value)
            line = f"{key} = [\n{items}]"
        lines.append(line + "\n")
    return "".join(lines)


def dumps(ruleset: RuleSet) -> str:
    """The canonical TOML text of ``ruleset`` (not validated: see :func:`save`)."""
    chunks = [tomli_w.dumps({"version": ruleset.version}), "\n[service]\n"]
    chunks.append(_inline(_service(ruleset.service)))
    sections: list[tuple[str, list[dict[str, Any]]]] = [
        ("protocol", [_protocol(item) for item in ruleset.protocols]),
        ("ip_filter", [_ip_filter(item) for item in ruleset.ip_filters]),
        ("client_set", [_client_set(item) for item in ruleset.client_sets]),
        ("user", [_user(item) for item in ruleset.users]),
        ("rule", [_rule(item) for item in ruleset.rules]),
    ]
    for name, tables in sections:
        for table in tables:
            chunks.append(f"\n[[{name}]]\n")
            chunks.append(_inline(table))
    return "".join(chunks)


def backup_path(path: str | os.PathLike[str]) -> Path:
    """Where the previous version of ``path`` is kept: ``NAME.bak`` next to it."""
    target = Path(path)
    return target.with_name(target.name + ".bak")


def save(
    ruleset: RuleSet, path: str | os.PathLike[str], *, allow_missing_passwords: bool = False
) -> None:
    """Validate ``ruleset`` and write it to ``path`` atomically, keeping ``NAME.bak``.

    Raises :class:`RuleFileError` (and writes nothing) when the rule set is
    invalid, ``OSError`` when the file cannot be written.
    """
    problems = validate(ruleset, allow_missing_passwords=allow_missing_passwords)
    if problems:
        raise RuleFileError(
            Problem(os.fspath(path), None, None, problem.key, problem.message)
            for problem in problems
        )
    write_text(path, dumps(ruleset))


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace the file at ``path`` with ``text`` atomically, keeping the old one as ``.bak``.

    A symbolic link is followed, so the file it points to is replaced. The
    file mode is preserved; a new file gets mode 0600 (rule files hold
    password hashes).
    """
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        existed = True
    except FileNotFoundError:
        mode, existed = _NEW_FILE_MODE, False
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(text.encode("utf-8"))
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        if existed:
            _keep_backup(target)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)


def _keep_backup(target: Path) -> None:
    """Make ``NAME.bak`` the current content of ``target``, atomically too."""
    backup = backup_path(target)
    staging = backup.with_name(f".{backup.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staging)
    try:
        try:
            os.link(target, staging)
        except OSError:
            shutil.copy2(target, staging)
        os.replace(staging, backup)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
        raise


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
