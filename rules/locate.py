"""Where things are in a TOML text: line numbers for key paths, and syntax errors.

``tomllib`` returns plain dictionaries without positions, so problems found
after parsing would have no line. :class:`KeyLocator` scans the text once,
independently of ``tomllib``, and records the line and column of every
table header, key and array element under a dotted key path such as
``protocol[2].primary.port`` (indexes into arrays are 0-based). It is a
locator, not a parser: it assumes text ``tomllib`` accepted, never raises on
anything else, and only has to be good enough to point at the offending key.

The trace loader of ``fwx simulate`` uses it too, for paths like
``step[3].address``. Both report through the helpers at the end:
:func:`parse_document` (``tomllib`` with every failure a located problem),
:func:`located` and :func:`bounded`, which keep the report of a hostile file
short: each line printable, at most :data:`MAX_PROBLEMS` of them.
"""

from __future__ import annotations

import bisect
import re
import sys
import tomllib
from collections.abc import Iterable
from typing import Any

from rules.errors import Problem, RuleFileError

__all__ = [
    "MAX_PROBLEMS",
    "KeyLocator",
    "bounded",
    "located",
    "parent_key",
    "parse_document",
    "printable",
    "syntax_problem",
]

MAX_PROBLEMS = 100
"""Problems listed for one file; one more line counts the rest and points at the first of them."""
_MAX_PATH, _MAX_KEY, _MAX_MESSAGE = 4096, 200, 300
"""Characters of a path, a key path and a message shown (a key can be a megabyte of text)."""

_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# Runs the scanner skips in one step (a character at a time is what made a 50 MB file slow).
_BARE_RUN = re.compile(r"[A-Za-z0-9_-]*")
_SPACE_RUN = re.compile(r"[ \t]*")
_BLANK_RUN = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_SCALAR_RUN = re.compile(r"[^,\]}\n#]*")
_BASIC_BODY = re.compile(r'[^"\\\n]*(?:\\.[^"\\\n]*)*', re.DOTALL)
_LITERAL_BODY = re.compile(r"[^'\n]*")
_NEWLINE = re.compile("\n")
_PLAIN = r"""(?:"[^"\\\n]*"|'[^'\n]*'|[^,\]}\n#"'\[{ \t]+)"""
_PLAIN_VALUE = re.compile(_PLAIN)
_SIMPLE_LINE = re.compile(
    rf"([A-Za-z0-9_-]+)[ \t]*=[ \t]*(?:{_PLAIN}|(?P<array>\[[ \t]*"
    rf"(?:{_PLAIN}[ \t]*,[ \t]*)*(?:{_PLAIN}[ \t]*)?\]))[ \t]*(?:#[^\n]*)?(?:\n|\Z)"
)
"""``key = value`` with a plain value or a one-line array of them: most lines of a large
file, each read in one step."""
_MAX_DEPTH = 64
"""Arrays and inline tables nested deeper than this are skipped, not recursed into."""
_AT_POSITION = re.compile(r"^(?P<message>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_AT_END = re.compile(r"^(?P<message>.*?)\s*\(at end of document\)$")
_BRACKET = re.compile(r"[\[\]{}]")


def _join(prefix: str, part: str) -> str:
    return f"{prefix}.{part}" if prefix else part


def parent_key(key_path: str) -> str:
    """The enclosing key path: ``a[1].b`` -> ``a[1]`` -> ``a`` -> ``""`` (the document)."""
    if key_path.endswith("]") and "[" in key_path:
        return key_path[: key_path.rindex("[")]
    dot = key_path.rfind(".")
    return key_path[:dot] if dot >= 0 else ""


class _Scanner:
    """One pass over the text, filling ``positions`` (key path -> offset in the text)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.positions: dict[str, int] = {"": 0}
        self.array_counts: dict[str, int] = {}

    def record(self, key_path: str, pos: int) -> None:
        self.positions.setdefault(key_path, pos)

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def run_end(self, run: re.Pattern[str], pos: int) -> int:
        """Where the run of ``run`` (a pattern that may match nothing) starting at ``pos`` ends."""
        match = run.match(self.text, pos)
        return pos if match is None else max(pos, match.end())

    def skip_space(self, newlines: bool = False) -> None:
        run = _BLANK_RUN if newlines else _SPACE_RUN
        self.pos = self.run_end(run, self.pos)

    def skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def scan(self) -> dict[str, int]:
        table = ""
        while self.pos < len(self.text):
            self.skip_space(newlines=True)
            start = self.pos
            if start >= len(self.text):
                break
            if self.peek() == "[":
                table = self.header()
            elif simple := _SIMPLE_LINE.match(self.text, start):
                self.simple_line(table, simple)
            elif self.peek() in _BARE_KEY or self.peek() in "\"'":
                self.key_value(table)
            if self.pos == start:
                self.skip_line()
        return self.positions

    def simple_line(self, table: str, line: re.Match[str]) -> None:
        """Record a line ``_SIMPLE_LINE`` matched: its key and its array's elements."""
        path = _join(table, line[1])
        self.record(path, line.start())
        if line["array"] is not None:
            begin, end = line.span("array")
            elements = _PLAIN_VALUE.finditer(self.text, begin + 1, end - 1)
            for index, element in enumerate(elements):
                self.record(f"{path}[{index}]", element.start())
        self.pos = line.end()

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
                self.pos = self.run_end(_BARE_RUN, begin)
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
        if char in ("{", "[") and self.depth < _MAX_DEPTH:
            self.depth += 1
            if char == "{":
                self.inline_table(path)
            else:
                self.array(path)
            self.depth -= 1
        elif char and char in "\"'":
            self.skip_string()
        else:
            self.pos = self.run_end(_SCALAR_RUN, self.pos)

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
        body = _BASIC_BODY if quote == '"' else _LITERAL_BODY
        end = self.run_end(body, self.pos + 1)
        closed = end < len(self.text) and self.text[end] in (quote, "\n")
        self.pos = end + 1 if closed else len(self.text)


class KeyLocator:
    """Line and column of dotted key paths in a TOML text."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._offsets = _Scanner(text).scan()
        self._line_starts: list[int] | None = None

    def position(self, key_path: str) -> tuple[int, int] | None:
        """``(line, col)`` of ``key_path``, else of its closest enclosing key or table."""
        path = key_path
        while path not in self._offsets:
            if not path:
                return None
            path = parent_key(path)
        return self._where(self._offsets[path])

    def line(self, key_path: str) -> int | None:
        """The line of ``key_path``, or of the closest enclosing key or table header."""
        found = self.position(key_path)
        return found[0] if found else None

    def _where(self, offset: int) -> tuple[int, int]:
        """``(line, col)`` of an offset; the line starts are found once, on the first call."""
        if self._line_starts is None:
            self._line_starts = [0, *(match.end() for match in _NEWLINE.finditer(self._text))]
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1


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


def parse_document(text: str, path: str) -> dict[str, Any]:
    """``tomllib.loads(text)``, or :class:`RuleFileError` with one located problem.

    Beyond syntax errors, ``tomllib`` fails on nesting deeper than Python's
    recursion limit and on integers longer than ``int`` reads
    (``sys.get_int_max_str_digits``); those are syntax problems here too.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        problem = syntax_problem(err, path, text)
    except RecursionError:
        problem = _problem_at(_deepest(text), text, path, "nested too deeply")
    except ValueError:
        limit = sys.get_int_max_str_digits()
        digits = re.search(f"[0-9][0-9_]{{{limit},}}", text) if limit else None
        where = digits.start() if digits else None
        problem = _problem_at(where, text, path, f"an integer of more than {limit} digits")
    raise RuleFileError([problem])


def _deepest(text: str) -> int | None:
    """The offset where brackets first reach their deepest nesting (strings not told apart)."""
    depth, deepest, where = 0, 0, None
    for bracket in _BRACKET.finditer(text):
        depth += 1 if bracket[0] in "[{" else -1
        if depth > deepest:
            deepest, where = depth, bracket.start()
    return where


def _problem_at(offset: int | None, text: str, path: str, message: str) -> Problem:
    if offset is None:
        return Problem(path, None, None, "", f"TOML syntax error: {message}")
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Problem(path, line, col, "", f"TOML syntax error: {message}")


def located(problems: Iterable[Problem], text: str, path: str) -> list[Problem]:
    """``problems`` (about key paths of ``text``) with ``path`` and positions, in file order.

    The list is :func:`bounded`: a file with a hundred thousand broken rules
    gives a short report, not a hundred thousand lines.
    """
    locator = KeyLocator(text)
    found = []
    for problem in problems:
        line, col = locator.position(problem.key) or (None, None)
        found.append(Problem(path, line, col, problem.key, problem.message))
    found.sort(key=lambda problem: (problem.line or 0, problem.col or 0))
    return bounded(found)


def bounded(problems: list[Problem]) -> list[Problem]:
    """The first :data:`MAX_PROBLEMS` problems, printable, and one line counting the rest."""
    shown = [
        Problem(
            printable(p.path, _MAX_PATH),
            p.line,
            p.col,
            printable(p.key, _MAX_KEY),
            printable(p.message, _MAX_MESSAGE),
        )
        for p in problems[:MAX_PROBLEMS]
    ]
    if len(problems) > MAX_PROBLEMS:
        first, rest = problems[MAX_PROBLEMS], len(problems) - MAX_PROBLEMS
        message = f"{rest} more problems not listed, the first of them here"
        shown.append(Problem(printable(first.path, _MAX_PATH), first.line, first.col, "", message))
    return shown


def printable(text: str, limit: int) -> str:
    """``text`` on one line, cut after ``limit`` characters.

    Every character ``str.isprintable`` refuses is escaped (``\\n``, ``\\x1b``,
    ``\\u202e``): line breaks, terminal escapes and bidirectional overrides in a
    key or a value cannot break the line or disguise what it says.
    """
    cut = text[:limit]
    if not cut.isprintable():
        cut = "".join(char if char.isprintable() else _escape(char) for char in cut)
    return cut if len(text) <= limit else f"{cut}… ({len(text)} characters)"


def _escape(char: str) -> str:
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")
