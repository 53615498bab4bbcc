"""What the commands that reach a running service share: connecting, errors, output.

Every live command opens the admin socket (``--socket PATH``, else
``$FWX_ADMIN_SOCKET``, else the default path), makes its requests, closes
it, and prints tables, or with ``--json`` the answer exactly as the admin
socket encodes it (:func:`engine.admin.values.to_json`), so a script sees
the same JSON as a client of the socket.

Failures to reach the service are one line on standard error and an exit
code (see :class:`console.cli.common.ExitCode`): 4 no service listens at the
socket (with how to start one), or it stopped during the command; 5 the
service refused this user, or the socket's permissions do; 3 the socket
could not be used otherwise (not a socket, not an fwx service, no answer in
time); 1 the service refused the request itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from console.cli.common import ExitCode, fail, result_exit_code, stderr, stdout
from console.cli.service_options import resolve_socket
from console.control.connection import (
    DISCONNECTED,
    AdminError,
    AdminRefused,
    ServiceNotRunning,
)
from console.control.remote import (
    RemoteControl,
)
from engine.admin.values import to_json
from engine.core.results import HResult

__all__ = [
    "TIMEOUT",
    "JsonOption",
    "call",
    "connected",
    "exit_with",
    "not_running",
    "print_json",
]

_T = TypeVar("_T")

TIMEOUT = 30.0
"""Seconds a command waits for the service's answers before giving up (exit 3)."""

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON (as the admin socket encodes it) instead of tables."),
]


def not_running(path: Path) -> str:
    """The one line that says no service listens at ``path``, and how to start one."""
    return (
        f"no fwx service is listening on {path}; start one with `fwx serve --rules FILE` "
        "(or name its socket with --socket PATH)"
    )


_UNUSABLE = frozenset({"unreachable", "timeout", "bad-hello", "bad-reply"})
"""Codes of :class:`AdminError` that say the socket could not be used (exit 3)."""


@contextlib.contextmanager
def _one_line_errors(path: Path) -> Iterator[None]:
    """Turn every expected failure of talking to the service into one line and an exit code."""
    try:
        yield
    except ServiceNotRunning:
        fail(not_running(path), ExitCode.NOT_RUNNING)
    except AdminRefused as err:
        fail(str(err), ExitCode.REFUSED)
    except AdminError as err:
        if err.code == DISCONNECTED:
            fail(f"{err} (did the service stop?)", ExitCode.NOT_RUNNING)
        if err.code in _UNUSABLE:
            fail(str(err), ExitCode.IO_ERROR)
        fail(f"the service refused the request: {err}", ExitCode.INVALID)
    except TimeoutError:
        fail(f"the service at {path} did not answer within {TIMEOUT:g} s", ExitCode.IO_ERROR)


@contextlib.asynccontextmanager
async def connected(socket: Path | None) -> AsyncIterator[RemoteControl]:
    """A connected client of the service at ``socket`` (None: the default path).

    Failures, while connecting or in the body, end the command with one line.
    """
    path = resolve_socket(socket)
    with _one_line_errors(path):
        async with RemoteControl(path) as control:
            yield control


def call(socket: Path | None, request: Callable[[RemoteControl], Awaitable[_T]]) -> _T:
    """Connect, await ``request(control)`` (at most :data:`TIMEOUT` seconds), close."""

    async def run() -> _T:
        async with connected(socket) as control:
            return await asyncio.wait_for(request(control), TIMEOUT)

    return asyncio.run(run())


def print_json(value: object) -> None:
    """``value`` as the admin socket encodes it, indented, on standard output.

    A mapping becomes an object of its values, each encoded that way.
    """
    data = (
        {key: to_json(item) for key, item in value.items()}
        if isinstance(value, Mapping)
        else to_json(value)
    )
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def exit_with(
    result: HResult, subject: str, *, done: str | None = None, as_json: bool = False
) -> NoReturn:
    """Say ``subject: NAME (0x...): meaning`` and exit with the result's code.

    ``done`` replaces the meaning of ``S_OK`` (which speaks of allowing).
    Success goes to standard output, a failure to standard error; with
    ``as_json`` only the result's JSON (its name) is printed.
    """
    if as_json:
        print_json(result)
    else:
        meaning = done if done is not None and result is HResult.S_OK else result.meaning
        console = stdout if result.succeeded else stderr
        line = f"{subject}: {result.label} ({result.hex}): {meaning}"
        console.print(line, markup=False, soft_wrap=True)
    raise typer.Exit(result_exit_code(result))
