"""What every `fwx` command shares: exit codes and one-line errors.

Commands never show a traceback: an expected failure is one line on
standard error and a documented exit code.
"""

from __future__ import annotations

import enum
from typing import NoReturn

import typer
from rich.console import Console

__all__ = ["ExitCode", "fail", "stderr", "stdout"]

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


class ExitCode(enum.IntEnum):
    """Exit codes of `fwx` commands (documented in the README)."""

    OK = 0
    INVALID = 1
    USAGE = 2
    IO_ERROR = 3


def fail(message: str, code: ExitCode = ExitCode.INVALID) -> NoReturn:
    """Print ``message`` as one line on standard error and exit with ``code``."""
    stderr.print(f"fwx: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(int(code))
