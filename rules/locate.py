"""Where things are in a TOML text: line numbers for key paths, and syntax errors.

``tomllib`` returns plain dictionaries without positions, so problems found
after parsing would have no line. :class:`KeyLocator` scans the text once,
independently of ``tomllib``, and records the line and column of every
table header, key and array element under a dotted key path such as
``protocol[2].primary.port`` (indexes into arrays are 0-based). It is a
locator, not a parser: it assumes text ``tomllib`` accepted, never raises on
anything else, and only has to be good enough to point at the offending key.

The trace loader of ``fwx simulate`` uses it too, for paths like
``step[3].address``.
"""

from __future__ import annotations

import bisect
import re
import tomllib

from rules.errors import Problem

__all__ = ["KeyLocator", "parent_key", "syntax_problem"]

_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SPACE = " \t"
_SCALAR_END = ",]}\n#"
_AT_POSITION = re.compile(r"^(?P<message>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_AT_END = re.compile(r"^(?P<message>.*?)\s*\(at end of document\)$")


def _join(prefix: str, part: str) -> str:
    return f"{prefix}.{part}" if prefix else part


def parent_key(key_path: str) -> str:
    """The enclosing key path: ``a[1].b`` -> ``a[1]`` -> ``a`` -> ``""`` (the document)."""
    if key_path.endswith("]") and "[" in key_path:
        return key_path[: key_path.rindex("[")]
    dot = key_path.rfind(".")
    return key_path[:dot] if dot >= 0 else ""


class _Scanner:
    """One pass over the text, filling ``positions`` (key path -> (line, col))."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line_starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]
        self.positions: dict[str, tuple[int, int]] = {"": (1, 1)}
        self.array_counts: dict[str, int] = {}

    def where(self, pos: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, pos)
        return line, pos - self.line_starts[line - 1] + 1

    def record(self, key_path: str, pos: int) -> None:
        self.positions.setdefault(key_path, self.where(pos))

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def skip_space(self, newlines: bool = False) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in _SPACE or (newlines and char in "\r\n"):
                self.pos += 1
            elif newlines and char == "#":
                self.skip_line()
            else:
                return

    def skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def scan(self) -> dict[str, tuple[int, int]]:
        table = ""
        while self.pos < len(self.text):
            self.skip_space(newlines=True)
            start = self.pos
            if start >= len(self.text):
                break
            if self.peek() == "[":
                table = self.header()
            elif self.peek() in _BARE_KEY or self.peek() in "\"'":
                self.key_value(table)
            if self.pos == start:
                self.skip_line()
        return self.positions

    def header(self) -> str:
        start = self.pos
        is_array = self.peek(1) == "["
        self.pos += 2 if is_array else 1
        parts = self.key_parts()
        resolved = ""
        for part in parts[:-1]:
            resolved = _join(resolved, part)
            if resolved in self.array_counts:
                resolved = f"{resolved}[{self.array_counts[resolved] - 1}]"
        name = _join(resolved, parts[-1] if parts else "")
        self.record(name, start)
        if is_array:
            index = self.array_counts.get(name, 0)
            self.array_counts[name] = index + 1
            name = f"{name}[{index}]"
            self.record(name, start)
        self.skip_line()
        return name

    def key_parts(self) -> list[str]:
        parts: list[str] = []
        while self.pos < len(self.text):
            self.skip_space()
            char = self.peek()
            if char and char in "\"'":
                begin = self.pos + 1
                self.skip_string()
                parts.append(self.text[begin : self.pos - 1])
            else:
                begin = self.pos
                while self.peek() and self.peek() in _BARE_KEY:
                    self.pos += 1
                if self.pos == begin:
                    break
                parts.append(self.text[begin : self.pos])
            self.skip_space()
            if self.peek() != ".":
                break
            self.pos += 1
        return parts

    def key_value(self, table: str) -> None:
        start = self.pos
        parts = self.key_parts()
        if not parts or self.peek() != "=":
            return
        self.pos += 1
        path = table
        for part in parts:
            path = _join(path, part)
            self.record(path, start)
        self.value(path)

    def value(self, path: str) -> None:
        self.skip_space()
        char = self.peek()
        if char == "{":
            self.inline_table(path)
        elif char == "[":
            self.array(path)
        elif char and char in "\"'":
            self.skip_string()
        else:
            while self.peek() and self.peek() not in _SCALAR_END:
                self.pos += 1

    def inline_table(self, path: str) -> None:
        self.pos += 1
        while self.pos < len(self.text):
            self.skip_space(newlines=True)
            if self.peek() in ("}", ""):
                break
            before = self.pos
            self.key_value(path)
            self.skip_space(newlines=True)
            if self.peek() == ",":
                self.pos += 1
            elif self.pos == before or self.peek() != "}":
                break
        if self.peek() == "}":
            self.pos += 1

    def array(self, path: str) -> None:
        self.pos += 1
        index = 0
        while self.pos < len(self.text):
            self.skip_space(newlines=True)
            if self.peek() in ("]", ""):
                break
            element = f"{path}[{index}]"
            self.record(element, self.pos)
            before = self.pos
            self.value(element)
            self.skip_space(newlines=True)
            if self.peek() == ",":
                self.pos += 1
                index += 1
            elif self.pos == before or self.peek() != "]":
                break
        if self.peek() == "]":
            self.pos += 1

    def skip_string(self) -> None:
        quote = self.peek()
        if not quote:
            return
        if self.text.startswith(quote * 3, self.pos):
            end = self.text.find(quote * 3, self.pos + 3)
            self.pos = len(self.text) if end < 0 else end + 3
            while self.peek() == quote:
                self.pos += 1
            return
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and quote == '"':
                self.pos += 2
                continue
            self.pos += 1
            if char in (quote, "\n"):
                return


class KeyLocator:
    """Line and column of dotted key paths in a TOML text."""

    def __init__(self, text: str) -> None:
        self._positions = _Scanner(text).scan()

    def position(self, key_path: str) -> tuple[int, int] | None:
        """``(line, col)`` of ``key_path``, else of its closest enclosing key or table."""
        path = key_path
        while path not in self._positions:
            if not path:
                return None
            path = parent_key(path)
        return self._positions[path]

    def line(self, key_path: str) -> int | None:
        """The line of ``key_path``, or of the closest enclosing key or table header."""
        found = self.position(key_path)
        return found[0] if found else None


def syntax_problem(exc: tomllib.TOMLDecodeError, path: str, text: str = "") -> Problem:
    """A :class:`Problem` for a ``tomllib`` error, with its line and column.

    ``tomllib`` ends its messages with ``(at line N, column M)``, or with
    ``(at end of document)``; for the latter the last line of ``text`` is used.
    """
    raw = str(exc)
    line: int | None = None
    col: int | None = None
    message = raw
    if match := _AT_POSITION.match(raw):
        message, line, col = match["message"], int(match["line"]), int(match["col"])
    elif match := _AT_END.match(raw):
        message = match["message"]
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1)) if text else None
    if message:
        message = message[0].lower() + message[1:]
    return Problem(path, line, col, "", f"TOML syntax error: {message}")
