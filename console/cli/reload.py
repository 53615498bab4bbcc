"""`fwx rules reload`: make a running service read its rule file again, and say what changed.

Exit codes (see :class:`console.cli.common.ExitCode`): 0 the new rules are
in force; 1 the file is invalid and nothing changed (every problem on its
own line); 2 bad command line; 4 no service; 5 refused (see
:mod:`console.cli.live`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from console.cli.common import ExitCode, fail, stderr, stdout
from console.cli.live import JsonOption, call, print_json
from console.cli.service_options import SocketOption
from console.control.remote import RemoteControl
from console.tui.format import hresult_text
from engine.admin.snapshots import RecheckResult, ReloadOutcome

__all__ = ["reload"]


def reload(
    recheck: Annotated[
        bool,
        typer.Option(
            "--recheck", help="Also re-check at once the pending binds the new rules would allow."
        ),
    ] = False,
    socket: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make the running service read its rule file again; say what changed.

    The whole file is validated first: an invalid one changes nothing (every
    problem on its own line, exit 1). Live binds keep their approval; pending
    binds the new rules would allow stay pending until re-checked (--recheck,
    or `fwx binds recheck ID ...`).
    """
    outcome, rechecked = call(socket, lambda control: _reload(control, recheck))
    if as_json:
        print_json({"reload": outcome, "recheck": rechecked})
    elif outcome.ok:
        _report_reload(outcome, rechecked, recheck)
    else:
        for problem in outcome.problems:
            stderr.print(problem, markup=False, highlight=False, soft_wrap=True)
    if not outcome.ok:
        fail(f"reload refused: {outcome.message or 'the rules in force stay'}", ExitCode.INVALID)


async def _reload(
    control: RemoteControl, recheck: bool
) -> tuple[ReloadOutcome, list[RecheckResult]]:
    outcome = await control.reload()
    ids = [bind.id for bind in outcome.would_differ]
    return outcome, await control.recheck(ids) if recheck and ids else []


def _report_reload(outcome: ReloadOutcome, rechecked: list[RecheckResult], recheck: bool) -> None:
    """What changed, then the pending binds concerned and what to do about them."""
    stdout.print(f"rules reloaded: {outcome.message}", markup=False, soft_wrap=True)
    changes = (
        ("protocols added", outcome.protocols_added),
        ("protocols removed", outcome.protocols_removed),
        ("protocols changed", outcome.protocols_changed),
        ("rules added", outcome.rules_added),
        ("rules removed", outcome.rules_removed),
        ("rules changed", outcome.rules_changed),
    )
    for label, names in changes:
        if names:
            stdout.print(f"  {label}: {', '.join(names)}", markup=False, soft_wrap=True)
    if not outcome.would_differ:
        return
    stdout.print("pending binds the new rules would allow:", markup=False)
    for bind in outcome.would_differ:
        line = f"  bind {bind.id}  {bind.transport}/{bind.address}  {bind.who}"
        stdout.print(line, markup=False, soft_wrap=True)
    if not recheck:
        ids = " ".join(str(bind.id) for bind in outcome.would_differ)
        stdout.print(f"re-check them with: fwx binds recheck {ids}", markup=False)
    for item in rechecked:
        text = f"re-checked bind {item.bind_id}: {hresult_text(item.result)}"
        stdout.print(text, markup=False, soft_wrap=True)
