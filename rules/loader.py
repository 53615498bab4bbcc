"""Reading rule files: TOML text to a complete :class:`~rules.model.RuleSet`, or every problem.

Loading has three steps. ``tomllib`` parses (a syntax error stops there).
A schema pass turns the tables into model values, reporting unknown keys
(with a "did you mean"), missing keys and wrong types; where a value is
wrong it puts a harmless placeholder in its place so the pass can go on and
the file's indexes stay aligned. Then :func:`rules.validate.validate` runs
the semantic checks. Problems of the semantic pass that concern a key the
schema pass already reported are dropped (one cause, one line), the rest
get their line numbers from :class:`rules.locate.KeyLocator`, and if any
remain nothing is returned: a file is never half-applied. The report stays
short whatever the file: one printable line per problem, at most
:data:`rules.locate.MAX_PROBLEMS` of them and a line counting the rest.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from rules.errors import Problem, RuleFileError, RuleFileUnreadable, did_you_mean
from rules.locate import located, parent_key, parse_document
from rules.model import (
    Action,
    AuthMode,
    ClientSet,
    Direction,
    IpFilterSet,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    SecondaryConnection,
    ServiceConfig,
    Transport,
    User,
)
from rules.validate import SUPPORTED_VERSION, validate

__all__ = ["MAX_FILE_SIZE", "load", "loads"]

MAX_FILE_SIZE = 64 * 1024 * 1024
"""The largest rule file read (64 MiB, some 300,000 rules); ``/dev/zero`` is not read for ever."""

_E = TypeVar("_E", Transport, Direction, Action, AuthMode)
_T = TypeVar("_T")
_GUID = re.compile(r"^(\{)?[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?(1)\})$")
_PORTS = re.compile(r"^\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?$")
_PLACEHOLDER_GUIDS = uuid.UUID("6f0cbd1c-5a43-4d36-9b0e-2f1c3f3f7a10")
_DEFAULT_SERVICE = ServiceConfig()

_TOP_KEYS = frozenset(("version", "service", "protocol", "ip_filter", "client_set", "user", "rule"))
_SERVICE_KEYS = frozenset((
    "listen", "external", "packet_filtering", "pending_bind_timeout", "max_binds_per_session",
    "authentication", "bind_ports", "udp_peer_timeout", "description",
))  # fmt: skip
_PROTOCOL_KEYS = frozenset(("name", "guid", "description", "primary", "secondary", "filter"))
_PRIMARY_KEYS = frozenset(("port", "transport", "direction"))
_SECONDARY_KEYS = frozenset(("ports", "transport", "direction"))
_IP_FILTER_KEYS = frozenset(("name", "include", "exclude", "description"))
_CLIENT_SET_KEYS = frozenset(("name", "addresses", "exclude", "description"))
_USER_KEYS = frozenset(("name", "groups", "password", "description"))
_RULE_KEYS = frozenset((
    "name", "action", "protocols", "users", "clients", "enabled", "except_protocols",
    "description",
))  # fmt: skip
_MISSING = object()
_INT64 = range(-(2**63), 2**63)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def load(path: str | os.PathLike[str], *, allow_missing_passwords: bool = False) -> RuleSet:
    """Read and validate the rule file at ``path``.

    Raises :class:`RuleFileUnreadable` when the file cannot be read, and
    :class:`RuleFileError` with every problem when it is not a valid rule file.
    """
    name = os.fspath(path)
    return loads(_read_text(name), name, allow_missing_passwords=allow_missing_passwords)


def _read_text(name: str) -> str:
    """The text of the file ``name``: UTF-8, a byte order mark allowed, at most 64 MiB."""
    try:
        with open(name, "rb") as file:
            data = file.read(MAX_FILE_SIZE + 1)
    except (OSError, ValueError) as err:  # ValueError: a NUL in the name
        reason = getattr(err, "strerror", None) or str(err)
        problem = Problem(name, None, None, "", f"cannot read the file: {reason}")
        raise RuleFileUnreadable([problem]) from None
    if len(data) > MAX_FILE_SIZE:
        message = f"larger than {MAX_FILE_SIZE >> 20} MiB, too large for a rule file"
        raise RuleFileError([Problem(name, None, None, "", message)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        bad = data[err.start : err.start + 1].hex()
        hint = "; it is UTF-16, save it as UTF-8" if data.startswith(_UTF16_BOMS) else ""
        problem = Problem(name, line, col, "", f"not UTF-8 text (byte 0x{bad}){hint}")
        raise RuleFileError([problem]) from None


def loads(text: str, path: str = "<string>", *, allow_missing_passwords: bool = False) -> RuleSet:
    """Parse and validate rule-file ``text``; ``path`` is only used in problem lines."""
    reader = _Reader()
    ruleset = reader.ruleset(parse_document(text, path))
    semantic = validate(ruleset, allow_missing_passwords=allow_missing_passwords)
    problems = _merge(reader.problems, semantic)
    if problems:
        raise RuleFileError(located(problems, text, path))
    return ruleset


def _ancestors(key: str) -> list[str]:
    """The key paths enclosing ``key``, innermost first (the document itself left out)."""
    found = []
    while key := parent_key(key):
        found.append(key)
    return found


def _merge(schema: list[Problem], semantic: list[Problem]) -> list[Problem]:
    """Schema problems not inside another one, plus semantic problems about other keys.

    A semantic problem is dropped when the schema pass already reported its key, a key
    enclosing it or a key inside it: a placeholder stood in there, one cause gets one line.
    """
    reported = {problem.key for problem in schema}
    enclosing = {outer for key in reported for outer in _ancestors(key)}
    kept = [p for p in schema if reported.isdisjoint(_ancestors(p.key))]
    for problem in semantic:
        key = problem.key
        if key not in reported and key not in enclosing and reported.isdisjoint(_ancestors(key)):
            kept.append(problem)
    return kept


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


class _Table:
    """One TOML table being read: typed getters that record problems instead of raising.

    ``tomllib`` returns exact built-in types, so each getter first tries the
    one type it expects (cheap: large rule files have tens of thousands of
    values) and only then works out what is wrong.
    """

    def __init__(
        self, reader: _Reader, key: str, data: dict[str, Any], allowed: frozenset[str]
    ) -> None:
        self.reader = reader
        self.key = key
        self.data = data
        if not data.keys() <= allowed:
            for name in data:
                if name not in allowed:
                    hint = did_you_mean(name, sorted(allowed))
                    reader.add(self.path(name), f"unknown key{hint}")

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def typed(self, name: str, kinds: tuple[type, ...], what: str, required: bool) -> Any:
        """The value of ``name`` if it has one of ``kinds`` (bool never counts as int)."""
        value = self.data.get(name, _MISSING)
        if value.__class__ in kinds:
            if value.__class__ is int and value not in _INT64:
                self.reader.add(self.path(name), "integer out of range (TOML integers are 64-bit)")
                return _MISSING
            return value
        if value is _MISSING:
            if required:
                self.reader.add(self.path(name), "missing (this key is required)")
        else:
            self.reader.add(self.path(name), f"must be {what}, not {_type_name(value)}")
        return _MISSING

    def text(self, name: str, default: str = "", *, required: bool = False) -> str:
        value = self.typed(name, (str,), "a string", required)
        return default if value is _MISSING else str(value)

    def optional_text(self, name: str) -> str | None:
        value = self.typed(name, (str,), "a string", False)
        return None if value is _MISSING else str(value)

    def integer(self, name: str, default: int, *, required: bool = False) -> int:
        value = self.typed(name, (int,), "an integer", required)
        return default if value is _MISSING else int(value)

    def number(self, name: str, default: float) -> float:
        value = self.typed(name, (int, float), "a number", False)
        return default if value is _MISSING else float(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.typed(name, (bool,), "true or false", False)
        return default if value is _MISSING else bool(value)

    def texts(
        self, name: str, default: tuple[str, ...] = (), *, required: bool = False
    ) -> tuple[str, ...]:
        value = self.typed(name, (list,), "an array of strings", required)
        if value is _MISSING:
            return default
        if all(item.__class__ is str for item in value):
            return tuple(value)
        for index, item in enumerate(value):
            if item.__class__ is not str:
                message = f"must be a string, not {_type_name(item)}"
                self.reader.add(f"{self.path(name)}[{index}]", message)
        return tuple(item for item in value if item.__class__ is str)

    def choice(self, name: str, enum: type[_E], *, required: bool = False) -> _E | None:
        """An enum member from its spelling (``tcp``, ``send-receive``); None if absent or bad."""
        spellings: dict[str, _E] = _SPELLINGS[enum]
        value = self.typed(name, (str,), "a string", required)
        if value is _MISSING:
            return None
        if value in spellings:
            return spellings[value]
        choices = ", ".join(spellings)
        hint = did_you_mean(value, spellings)
        self.reader.add(self.path(name), f"{value!r} is not one of {choices}{hint}")
        return None

    def table(self, name: str, allowed: frozenset[str], *, required: bool = False) -> _Table:
        value = self.typed(name, (dict,), "a table", required)
        return _Table(self.reader, self.path(name), {} if value is _MISSING else value, allowed)

    def tables(self, name: str, allowed: frozenset[str]) -> list[_Table]:
        """An array of tables; an element that is not a table is reported and read as empty."""
        value = self.typed(name, (list,), "an array of tables", False)
        if value is _MISSING:
            return []
        result = []
        prefix = self.path(name)
        for index, item in enumerate(value):
            key = f"{prefix}[{index}]"
            if item.__class__ is not dict:
                self.reader.add(key, f"must be a table, not {_type_name(item)}")
                item = {}
            result.append(_Table(self.reader, key, item, allowed))
        return result


def _spelling(member: Transport | Direction | Action | AuthMode) -> str:
    return member.label if isinstance(member, Transport) else member.value


_SPELLINGS: dict[type, dict[str, Any]] = {
    enum: {_spelling(member): member for member in enum}
    for enum in (Transport, Direction, Action, AuthMode)
}


class _Reader:
    """The schema pass: tables to model values, collecting problems with key paths."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem("", None, None, key, message))

    def ruleset(self, data: dict[str, Any]) -> RuleSet:
        top = _Table(self, "", data, _TOP_KEYS)
        if "version" not in data:
            self.add("version", f"missing; a rule file starts with version = {SUPPORTED_VERSION}")
        return RuleSet(
            version=top.integer("version", SUPPORTED_VERSION),
            service=self.service(top.table("service", _SERVICE_KEYS)),
            protocols=self.each(top.tables("protocol", _PROTOCOL_KEYS), self.protocol),
            ip_filters=self.each(top.tables("ip_filter", _IP_FILTER_KEYS), self.ip_filter),
            client_sets=self.each(top.tables("client_set", _CLIENT_SET_KEYS), self.client_set),
            users=self.each(top.tables("user", _USER_KEYS), self.user),
            rules=self.each(top.tables("rule", _RULE_KEYS), self.rule),
        )

    @staticmethod
    def each(tables: list[_Table], build: Callable[[_Table], _T]) -> tuple[_T, ...]:
        return tuple(build(table) for table in tables)

    def service(self, table: _Table) -> ServiceConfig:
        default = _DEFAULT_SERVICE
        return ServiceConfig(
            listen=table.text("listen", default.listen),
            external=table.text("external", default.external),
            packet_filtering=table.flag("packet_filtering", default.packet_filtering),
            pending_bind_timeout=table.number("pending_bind_timeout", default.pending_bind_timeout),
            max_binds_per_session=table.integer(
                "max_binds_per_session", default.max_binds_per_session
            ),
            authentication=table.choice("authentication", AuthMode) or default.authentication,
            bind_ports=self.ports(table, "bind_ports", required=False),
            udp_peer_timeout=table.number("udp_peer_timeout", default.udp_peer_timeout),
            description=table.text("description"),
        )

    def ports(self, table: _Table, name: str, *, required: bool) -> tuple[int, int] | None:
        """A port (``20``) or a port range (``"1024-65535"``), or None if absent or bad."""
        value = table.typed(name, (int, str), 'a port range such as "1024-65535"', required)
        if value is _MISSING:
            return None
        if isinstance(value, int):
            return value, value
        match = _PORTS.match(value)
        if match is None:
            table.reader.add(table.path(name), f'{value!r} is not a port range (e.g. "1024-65535")')
            return None
        low = int(match[1])
        return low, int(match[2]) if match[2] else low

    def guid(self, table: _Table) -> uuid.UUID:
        """The protocol's GUID, canonical; a placeholder unique to the table when bad."""
        value = table.typed("guid", (str,), "a string", True)
        if value is not _MISSING:
            if _GUID.match(value):
                return uuid.UUID(value.strip("{}"))
            table.reader.add(
                table.path("guid"),
                f"{value!r} is not a GUID (8-4-4-4-12 hex digits, braces optional)",
            )
        return uuid.uuid5(_PLACEHOLDER_GUIDS, table.key)

    def connection(self, table: _Table) -> tuple[Transport, Direction]:
        """Transport and direction; a bad one is replaced by one that fits the other."""
        transport = table.choice("transport", Transport, required=True)
        direction = table.choice("direction", Direction, required=True)
        if transport is None:
            transport = min(direction.transports) if direction else Transport.TCP
        if direction is None:
            direction = next(item for item in Direction if transport in item.transports)
        return transport, direction

    def protocol(self, table: _Table) -> ProtocolDefinition:
        name = table.text("name", required=True)
        guid = self.guid(table)
        primary = table.table("primary", _PRIMARY_KEYS, required=True)
        port = primary.integer("port", 1, required=True)
        return ProtocolDefinition(
            guid=guid,
            name=name,
            primary=PrimaryConnection(port, *self.connection(primary)),
            secondary=self.each(table.tables("secondary", _SECONDARY_KEYS), self.secondary),
            filter=table.optional_text("filter"),
            description=table.text("description"),
        )

    def secondary(self, table: _Table) -> SecondaryConnection:
        low, high = self.ports(table, "ports", required=True) or (1, 1)
        return SecondaryConnection(low, high, *self.connection(table))

    def ip_filter(self, table: _Table) -> IpFilterSet:
        return IpFilterSet(
            name=table.text("name", required=True),
            include=table.texts("include"),
            exclude=table.texts("exclude"),
            description=table.text("description"),
        )

    def client_set(self, table: _Table) -> ClientSet:
        return ClientSet(
            name=table.text("name", required=True),
            addresses=table.texts("addresses"),
            exclude=table.texts("exclude"),
            description=table.text("description"),
        )

    def user(self, table: _Table) -> User:
        return User(
            name=table.text("name", required=True),
            groups=table.texts("groups"),
            password=table.optional_text("password"),
            description=table.text("description"),
        )

    def rule(self, table: _Table) -> ProtocolRule:
        return ProtocolRule(
            name=table.text("name", required=True),
            action=table.choice("action", Action, required=True) or Action.DENY,
            protocols=table.texts("protocols", ("any",), required=True),
            users=table.texts("users", ("any",)),
            clients=table.texts("clients", ("any",)),
            enabled=table.flag("enabled", True),
            except_protocols=table.flag("except_protocols", False),
            description=table.text("description"),
        )
