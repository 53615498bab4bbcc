"""Problems found in a rule file, and the exception that carries all of them.

A problem is one line an operator can act on, in the form compilers use so
editors can jump to it: ``PATH:LINE:COL: key.path: message``. The parts that
are unknown (a rule set built in code has no path or lines) are left out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Problem", "RuleFileError", "RuleFileUnreadable", "did_you_mean"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a rule file or a rule set.

    ``key`` is a dotted key path such as ``protocol[2].primary.port``, with
    0-based indexes into arrays of tables; empty when the problem concerns
    the file as a whole (a syntax error, an unreadable file).
    """

    path: str
    line: int | None
    col: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        parts = [part for part in (where, self.key, self.message) if part]
        return ": ".join(parts)


class RuleFileError(Exception):
    """A rule file or rule set was refused; ``problems`` says why, all at once."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class RuleFileUnreadable(RuleFileError):
    """The rule file could not be read at all (missing, no permission, a folder).

    A subclass so commands can tell an I/O failure (exit code 3) from a
    file that was read and found invalid (exit code 1).
    """


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``word``, or ``""`` if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
