"""Semantic checks of a rule set: what must hold beyond each value's type.

:func:`validate` works on a :class:`~rules.model.RuleSet` built in code, so
the console, which edits rules in memory, gets exactly the answers
``fwx rules check`` gives for a file. Problems carry key paths
(``rule[3].protocols[1]``) with the index of the entity in its tuple, which
is its index in the file; the loader adds the path and line numbers.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rules.addresses import parse_spec
from rules.errors import Problem, did_you_mean
from rules.model import AuthMode, Direction, RuleSet, ServiceConfig, Transport
from rules.passwords import is_password_hash

__all__ = ["ANY", "SUPPORTED_VERSION", "validate"]

ANY = "any"
SUPPORTED_VERSION = 1
_FILTER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_LISTEN = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")


def _problem(key: str, message: str) -> Problem:
    return Problem("", None, None, key, message)


def validate(ruleset: RuleSet, *, allow_missing_passwords: bool = False) -> list[Problem]:
    """Every semantic problem of ``ruleset``, in file order of kinds; empty when valid.

    ``allow_missing_passwords`` tolerates users without a password under
    ``authentication = "password"``: ``fwx rules passwd`` uses it so the
    passwords can be set one by one after switching authentication on.
    """
    checker = _Checker(ruleset, allow_missing_passwords)
    checker.run()
    return checker.problems


@dataclass
class _Checker:
    ruleset: RuleSet
    allow_missing_passwords: bool

    def __post_init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(_problem(key, message))

    def run(self) -> None:
        if self.ruleset.version != SUPPORTED_VERSION:
            self.add(
                "version",
                f"unsupported version {self.ruleset.version}; "
                f"this fwx reads version {SUPPORTED_VERSION}",
            )
        self.service(self.ruleset.service)
        self.protocols()
        self.address_sets()
        self.users()
        self.rules()

    def service(self, service: ServiceConfig) -> None:
        if (error := _listen_error(service.listen)) is not None:
            self.add("service.listen", error)
        try:
            ipaddress.ip_address(service.external)
        except ValueError:
            self.add("service.external", f"{service.external!r} is not an IP address")
        for key, value in (
            ("pending_bind_timeout", service.pending_bind_timeout),
            ("udp_peer_timeout", service.udp_peer_timeout),
        ):
            if not math.isfinite(value) or value <= 0:
                self.add(f"service.{key}", f"must be a positive number of seconds, not {value:g}")
        if service.max_binds_per_session < 1:
            self.add(
                "service.max_binds_per_session",
                f"must be at least 1, not {service.max_binds_per_session}",
            )
        if service.bind_ports is not None:
            low, high = service.bind_ports
            if (error := _port_range_error(low, high)) is not None:
                self.add("service.bind_ports", error)

    def names(self, kind: str, names: Sequence[str], *, reserved: bool = True) -> None:
        """Names must be non-empty, trimmed, unique per kind, and (mostly) not ``any``."""
        first: dict[str, int] = {}
        for index, name in enumerate(names):
            key = f"{kind}[{index}].name"
            if not name.strip():
                self.add(key, "must not be empty")
            elif name != name.strip():
                self.add(key, f"{name!r} has spaces at either end")
            elif reserved and name == ANY:
                self.add(key, f"{ANY!r} is reserved (it means every {kind.replace('_', ' ')})")
            elif name in first:
                self.add(key, f"duplicate name {name!r} (also {kind}[{first[name]}])")
            else:
                first[name] = index

    def protocols(self) -> None:
        protocols = self.ruleset.protocols
        self.names("protocol", [proto.name for proto in protocols])
        first: dict[uuid.UUID, int] = {}
        for index, proto in enumerate(protocols):
            key = f"protocol[{index}]"
            if proto.guid in first:
                self.add(
                    f"{key}.guid",
                    f"duplicate GUID {proto.guid} (also protocol[{first[proto.guid]}])",
                )
            else:
                first[proto.guid] = index
            primary = proto.primary
            if not 1 <= primary.port <= 65535:
                self.add(f"{key}.primary.port", f"port {primary.port} is out of range (1-65535)")
            self.direction(f"{key}.primary", primary.transport, primary.direction.value)
            for number, second in enumerate(proto.secondary):
                where = f"{key}.secondary[{number}]"
                if (error := _port_range_error(second.port_low, second.port_high)) is not None:
                    self.add(f"{where}.ports", error)
                self.direction(where, second.transport, second.direction.value)
            if proto.filter is not None and not _FILTER_NAME.match(proto.filter):
                self.add(
                    f"{key}.filter",
                    f"{proto.filter!r} is not a filter name (lower-case letters, digits, - and _)",
                )

    def direction(self, key: str, transport: Transport, direction: str) -> None:
        allowed = _DIRECTIONS[transport]
        if direction not in allowed:
            choices = ", ".join(allowed)
            self.add(
                f"{key}.direction",
                f"{direction!r} is not a {transport.label} direction (use {choices})",
            )

    def address_sets(self) -> None:
        self.names("ip_filter", [item.name for item in self.ruleset.ip_filters])
        for index, ip_filter in enumerate(self.ruleset.ip_filters):
            self.specs(f"ip_filter[{index}].include", ip_filter.include)
            self.specs(f"ip_filter[{index}].exclude", ip_filter.exclude)
        self.names("client_set", [item.name for item in self.ruleset.client_sets])
        for index, client_set in enumerate(self.ruleset.client_sets):
            self.specs(f"client_set[{index}].addresses", client_set.addresses)
            self.specs(f"client_set[{index}].exclude", client_set.exclude)

    def specs(self, key: str, specs: Sequence[str]) -> None:
        for number, spec in enumerate(specs):
            try:
                parse_spec(spec)
            except ValueError as err:
                self.add(f"{key}[{number}]", str(err))

    def users(self) -> None:
        users = self.ruleset.users
        self.names("user", [user.name for user in users])
        needs_password = self.ruleset.service.authentication is AuthMode.PASSWORD
        for index, user in enumerate(users):
            key = f"user[{index}]"
            if user.name.startswith("@"):
                self.add(f"{key}.name", f"{user.name!r} must not start with '@' (it marks groups)")
            for number, group in enumerate(user.groups):
                if not group.strip() or group != group.strip() or group.startswith("@"):
                    self.add(f"{key}.groups[{number}]", f"{group!r} is not a group name")
                elif group == ANY:
                    self.add(
                        f"{key}.groups[{number}]", f"{ANY!r} is reserved (it means every user)"
                    )
            if user.password is None:
                if needs_password and not self.allow_missing_passwords:
                    self.add(
                        f"{key}.password",
                        f'user {user.name!r} has no password but authentication = "password"; '
                        "set one with `fwx rules passwd`",
                    )
            elif not is_password_hash(user.password):
                self.add(
                    f"{key}.password",
                    "is not a scrypt hash; plaintext passwords are refused "
                    "(set one with `fwx rules passwd`)",
                )

    def rules(self) -> None:
        rules = self.ruleset.rules
        self.names("rule", [rule.name for rule in rules], reserved=False)
        known = _Known(self.ruleset)
        # Many rules name the same few things: each name is looked up (and, when missing,
        # matched against every known one for a "did you mean") once, not once per rule.
        protocol_error = functools.cache(known.protocol_error)
        user_error = functools.cache(known.user_error)
        client_set_error = functools.cache(known.client_set_error)
        for index, rule in enumerate(rules):
            key = f"rule[{index}]"
            self.references(f"{key}.protocols", rule.protocols, protocol_error)
            if rule.except_protocols and ANY in rule.protocols:
                self.add(
                    f"{key}.except_protocols",
                    "needs the protocols to leave out, not 'any' (that would leave out everything)",
                )
            self.references(f"{key}.users", rule.users, user_error)
            self.references(f"{key}.clients", rule.clients, client_set_error)

    def references(
        self, key: str, entries: Sequence[str], error: Callable[[str], str | None]
    ) -> None:
        """A rule's list: not empty, ``any`` alone, and every other entry defined."""
        if not entries:
            self.add(key, 'must not be empty (write ["any"] to mean all)')
        elif ANY in entries and len(entries) > 1:
            self.add(key, "'any' must be alone in its list")
        for number, entry in enumerate(entries):
            if entry != ANY and (message := error(entry)) is not None:
                self.add(f"{key}[{number}]", message)


class _Known:
    """What rules may refer to, gathered once so each reference is a set lookup."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.protocol_names = {proto.name for proto in ruleset.protocols}
        self.guids = {proto.guid for proto in ruleset.protocols}
        self.user_names = {user.name for user in ruleset.users}
        self.groups = {group for user in ruleset.users for group in user.groups}
        self.client_sets = {item.name for item in ruleset.client_sets}

    def protocol_error(self, entry: str) -> str | None:
        if entry in self.protocol_names:
            return None
        try:
            if uuid.UUID(entry.strip().strip("{}")) in self.guids:
                return None
        except ValueError:
            pass
        return f"no protocol named {entry!r}{did_you_mean(entry, self.protocol_names)}"

    def user_error(self, entry: str) -> str | None:
        if entry.startswith("@"):
            group = entry[1:]
            if group in self.groups:
                return None
            return f"no user is in group {group!r}{did_you_mean(group, self.groups)}"
        if entry in self.user_names:
            return None
        return f"no user named {entry!r}{did_you_mean(entry, self.user_names)}"

    def client_set_error(self, entry: str) -> str | None:
        if entry in self.client_sets:
            return None
        return f"no client set named {entry!r}{did_you_mean(entry, self.client_sets)}"


_DIRECTIONS: dict[Transport, tuple[str, ...]] = {
    transport: tuple(d.value for d in Direction if transport in d.transports)
    for transport in Transport
}


def _port_range_error(low: int, high: int) -> str | None:
    if not (1 <= low <= 65535 and 1 <= high <= 65535):
        return f"ports {low}-{high} are out of range (1-65535)"
    if low > high:
        return f"ports {low}-{high} run backwards"
    return None


def _listen_error(listen: str) -> str | None:
    """Why ``listen`` is not ``IP:PORT`` (``[IPv6]:PORT``), or None; port 0 picks a free one."""
    match = _LISTEN.match(listen)
    if match is None:
        return f"{listen!r} is not IP:PORT (write IPv6 as [::1]:1080)"
    try:
        ipaddress.ip_address(match["v6"] or match["host"])
    except ValueError:
        return f"{listen!r}: {match['v6'] or match['host']!r} is not an IP address"
    if match["v6"] and ":" not in match["v6"]:
        return f"{listen!r}: only IPv6 addresses go in brackets"
    if int(match["port"]) > 65535:
        return f"{listen!r}: port {match['port']} is out of range (0-65535)"
    return None
