"""Typed reading of one ``[[step]]`` table, collecting every problem it finds.

A :class:`StepReader` hands out the values of a step's keys already
converted (endpoints, transports, flags, numbers) and records a
:class:`rules.errors.Problem` with the key's line for each one that is
missing or wrong, so the trace loader can report all of them at once. It
remembers which keys the step's parser asked for: any other key is unknown
and reported with a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from engine.simulate.steps import Endpoint, parse_endpoint
from rules.errors import Problem
from rules.locate import KeyLocator, printable
from rules.model import Transport

__all__ = ["StepReader", "step_key"]

_TRANSPORTS = {transport.label: transport for transport in Transport}
_SHOWN_TEXT = 80
"""Characters of a string value shown in a message."""


def step_key(index: int, key: str = "") -> str:
    """The key path of a step as people read it: ``step[N].key``, N counted from 1."""
    return f"step[{index + 1}].{key}" if key else f"step[{index + 1}]"


class StepReader:
    """Reads the keys of the step at 0-based ``index``; problems go to ``problems``."""

    def __init__(
        self,
        table: Mapping[str, object],
        index: int,
        path: str,
        locator: KeyLocator,
        problems: list[Problem],
        prefix: str = "",
    ) -> None:
        """Read ``table``, reporting against ``path`` with lines from ``locator``.

        ``prefix`` is the key path of ``table`` inside the step (``protocol.``)
        when it is a nested table; it is empty for the step itself.
        """
        self.table = table
        self.index = index
        self.path = path
        self._locator = locator
        self._problems = problems
        self._prefix = prefix
        self._known: set[str] = set() if prefix else {"op", "description"}

    @property
    def number(self) -> int:
        """The step's number as results show it (1-based)."""
        return self.index + 1

    def problem(self, key: str, message: str) -> None:
        """Record ``message`` about ``key`` (a dotted path inside this table, or "")."""
        inner = (self._prefix + key) if key else self._prefix.rstrip(".")
        toml_path = f"step[{self.index}].{inner}" if inner else f"step[{self.index}]"
        self._problems.append(
            Problem(
                path=self.path,
                line=self._locator.line(toml_path),
                col=None,
                key=step_key(self.index, inner),
                message=message,
            )
        )

    def nested(self, key: str, table: Mapping[str, object]) -> StepReader:
        """A reader for ``table``, found at ``key`` inside this one (``secondary[0]`` too)."""
        return StepReader(
            table,
            self.index,
            self.path,
            self._locator,
            self._problems,
            prefix=f"{self._prefix}{key}.",
        )

    def extend(self, problems: list[Problem]) -> None:
        """Record problems found elsewhere (in a rule file the step names)."""
        self._problems.extend(problems)

    def raw(self, key: str, *, required: bool) -> object | None:
        """The value of ``key`` as TOML gave it, or None (a problem if ``required``)."""
        self._known.add(key)
        value = self.table.get(key)
        if value is None and required:
            self.problem(key, f"missing key {key!r}")
        if _is_huge(value):
            self.problem(key, "integer out of range (TOML integers are 64-bit)")
            return None
        return value

    def text(self, key: str, *, required: bool = True) -> str | None:
        """A non-empty string."""
        value = self.raw(key, required=required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"expected a non-empty string, got {_shown(value)}")
            return None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """``true`` or ``false``; ``default`` when absent."""
        value = self.raw(key, required=False)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, f"expected true or false, got {_shown(value)}")
            return default
        return value

    def integer(self, key: str, *, low: int, high: int, required: bool = False) -> int | None:
        """An integer from ``low`` to ``high``; None when absent or wrong."""
        value = self.raw(key, required=required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(key, f"expected an integer from {low} to {high}, got {_shown(value)}")
            return None
        return value

    def seconds(self, key: str) -> float | None:
        """A required number of seconds, zero or more."""
        value = self.raw(key, required=True)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.problem(key, f"expected a number of seconds (0 or more), got {_shown(value)}")
            return None
        return float(value)

    def endpoint(self, key: str, *, required: bool = True) -> Endpoint | None:
        """An ``ip:port`` / ``[ipv6]:port`` string."""
        value = self.text(key, required=required)
        if value is None:
            return None
        try:
            return parse_endpoint(value.strip())
        except ValueError as err:
            self.problem(key, str(err))
            return None

    def endpoints(self, key: str) -> tuple[Endpoint, ...] | None:
        """A required, non-empty list of endpoints."""
        value = self.raw(key, required=True)
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            self.problem(key, f"expected a non-empty list of IP:port strings, got {_shown(value)}")
            return None
        found: list[Endpoint] = []
        for position, item in enumerate(value):
            try:
                if not isinstance(item, str):
                    raise ValueError(f"expected an IP:port string, got {_shown(item)}")
                found.append(parse_endpoint(item.strip()))
            except ValueError as err:
                self.problem(f"{key}[{position}]", str(err))
        return tuple(found) if len(found) == len(value) else None

    def transport(
        self, key: str, *, default: Transport | None = None, required: bool = True
    ) -> Transport | None:
        """``"tcp"`` or ``"udp"``; ``default`` when absent (a problem if required, no default)."""
        value = self.raw(key, required=required and default is None)
        if value is None:
            return default
        if not isinstance(value, str) or value not in _TRANSPORTS:
            self.problem(key, f'expected "tcp" or "udp", got {_shown(value)}')
            return None
        return _TRANSPORTS[value]

    def flags(self, key: str, names: Mapping[str, int], default: int) -> int | None:
        """A list of flag names OR-ed together, or an integer passed through as raw bits."""
        value = self.raw(key, required=False)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= 0xFFFFFFFF:
                self.problem(key, f"raw flag bits must fit in 32 bits, got {value}")
                return None
            return value
        if not isinstance(value, list):
            self.problem(key, f"expected a list of flag names or an integer, got {_shown(value)}")
            return None
        bits = 0
        for position, name in enumerate(value):
            if isinstance(name, str) and name in names:
                bits |= names[name]
            else:
                self.problem(f"{key}[{position}]", _unknown(f"flag {_shown(name)}", name, names))
        return bits

    def choice(self, key: str, options: Mapping[str, object]) -> str | None:
        """A required string that must be one of ``options`` (with a suggestion if not)."""
        value = self.raw(key, required=True)
        if value is None:
            return None
        if not isinstance(value, str) or value not in options:
            self.problem(key, _unknown(f"{key} {_shown(value)}", value, options))
            return None
        return value

    def finish(self) -> None:
        """Report every key of the table the step's parser never asked for."""
        for key in self.table:
            if key not in self._known:
                self.problem(key, _unknown(f"unknown key {key!r}", key, self._known))


def _is_huge(value: object) -> bool:
    """An integer beyond 64 bits: ``tomllib`` reads ``0x`` followed by a megabyte of ``f``."""
    return isinstance(value, int) and not -(2**63) <= value < 2**63


def _shown(value: object) -> str:
    """A value as TOML would spell it, for messages (long or odd text kept printable)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{printable(value, _SHOWN_TEXT)}"'
    if _is_huge(value):
        return "an integer out of range"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _unknown(what: str, value: object, options: Iterable[str]) -> str:
    """``what`` plus "did you mean" when ``value`` is close to one of ``options``."""
    names = sorted(options)
    close = difflib.get_close_matches(str(value), names, n=1) if isinstance(value, str) else []
    if close:
        return f"{what}; did you mean {close[0]!r}?"
    return f"{what}; expected one of: {', '.join(names)}"
