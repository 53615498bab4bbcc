"""What every `fwx` command shares: exit codes and one-line errors.

Commands never show a traceback: an expected failure is one line on
standard error and a documented exit code.

Exit codes:

==  ======================================================================
0   OK: done (a change: made, see the result codes below)
1   INVALID: a refused change or request, an invalid rule file
2   USAGE: a bad command line
3   IO_ERROR: a file could not be read or written, an address not bound
4   NOT_RUNNING: no fwx service is listening on the admin socket
5   REFUSED: the admin socket refused this user, or its path is not ours
==  ======================================================================

Commands that answer with a result code of the firewall API (``fwx binds
allow|terminate|recheck``, ``fwx protocols register|unregister``) exit with
:data:`RESULT_EXIT_CODES`: ``S_OK`` 0, then 10 and up in the order of
:class:`~engine.core.results.HResult` (``S_FALSE`` 10, ``E_INVALIDARG`` 11,
``NOT_FOUND`` 12, ``ALREADY_EXISTS`` 13, ``FWX_E_TERMINATING`` 14,
``FWX_E_BAD_CONTEXT`` 15, ``FWX_E_PROTOCOL_RULES_DENIED`` 16,
``FWX_E_IS_BUSY`` 17, ``FWX_E_OUT_OF_RESOURCES`` 18), so a script tells
success, "already allowed" and each error apart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import NoReturn

import typer
from rich.console import Console

from engine.core.results import HResult

__all__ = ["RESULT_EXIT_CODES", "ExitCode", "fail", "result_exit_code", "stderr", "stdout"]

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


class ExitCode(enum.IntEnum):
    """Exit codes of `fwx` commands (documented in the README)."""

    OK = 0
    INVALID = 1
    USAGE = 2
    IO_ERROR = 3
    NOT_RUNNING = 4
    REFUSED = 5


_FIRST_RESULT_CODE = 10

RESULT_EXIT_CODES: Mapping[HResult, int] = MappingProxyType(
    {
        result: 0 if result is HResult.S_OK else _FIRST_RESULT_CODE + position - 1
        for position, result in enumerate(HResult)
    }
)
"""The exit code of each API result code: ``S_OK`` 0, the others from 10 in HResult order."""


def result_exit_code(result: HResult) -> int:
    """The exit code of a command that answers with ``result``."""
    return RESULT_EXIT_CODES[result]


def fail(message: str, code: ExitCode | int = ExitCode.INVALID) -> NoReturn:
    """Print ``message`` as one line on standard error and exit with ``code``."""
    stderr.print(f"fwx: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(int(code))
