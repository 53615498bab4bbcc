"""Disk faults against a real `fwx serve`: the audit log's disk full, the rule folder unwritable.

Each fault is produced two ways: for real, with a mount (a 256 KiB tmpfs under the audit
log; a read-only bind mount over the rule file's folder), which needs root and is skipped
with the reason when mounting is not permitted; and without a mount, by lowering the
service process's ``RLIMIT_FSIZE`` from outside (``prlimit``) so the kernel refuses to
extend any file, as on a full disk (Python ignores ``SIGXFSZ``, so the write fails with
``EFBIG`` instead of killing the process; its log is a pipe, which the limit does not touch).

What must hold: the service keeps forwarding (a fresh CONNECT relays 1 MiB, SHA-256 intact),
it reports the fault (``fwx status --json`` shows ``audit_error``; an ``error:`` line; a
failed save is a one-line answer naming the rule file), operators' actions are answered, and
nothing acknowledged is lost: once the disk has room again every acknowledged action and
every event is in the audit file, and a failed save leaves the rules in force, the file on
disk and its folder exactly as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from console.control.remote import RemoteControl
from engine.admin.snapshots import Outcome
from engine.audit import AuditReader, AuditRecord
from engine.core import HResult
from tests.console.cli.live_service import one_line, wait_until
from tests.hardening.test_faults import (
    REMOTE,
    Origin,
    Served,
    open_bind,
    origin_servers,
    prove_forwarding,
    rules_text,
    serve,
    short_folder,
    socks,
)

pytestmark = pytest.mark.timeout(90)

TMPFS_SIZE = "256k"


# -- producing the faults -----------------------------------------------------------------------


@contextlib.contextmanager
def mounted(target: Path, *steps: tuple[str, ...]) -> Iterator[None]:
    """Run the ``mount`` commands ``steps`` on ``target``; unmount afterwards.

    Skips the test, saying why, when the first cannot be done (not root, no permission).
    """
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a file system needs root and mount(8)")
    done = subprocess.run(["mount", *steps[0], str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount {' '.join(steps[0])} is not permitted here: {done.stderr.strip()}")
    try:
        for step in steps[1:]:
            subprocess.run(["mount", *step, str(target)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)


class Fault(Protocol):
    """A way to make the disk refuse the service's writes, and to undo it."""

    def start(self, served: Served) -> None: ...

    def end(self, served: Served) -> None: ...


class FileSizeLimit:
    """``RLIMIT_FSIZE`` of 1 byte on the service process: no file of it can grow."""

    def __init__(self) -> None:
        self._limits = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)

    def start(self, served: Served) -> None:
        self._limits = resource.prlimit(served.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(served.process.pid, resource.RLIMIT_FSIZE, (1, self._limits[1]))

    def end(self, served: Served) -> None:
        resource.prlimit(served.process.pid, resource.RLIMIT_FSIZE, self._limits)


class FullTmpfs:
    """A file that takes every free block of the tmpfs mounted on ``folder``."""

    def __init__(self, folder: Path) -> None:
        self._filler = folder / "filler"

    def start(self, served: Served) -> None:
        descriptor = os.open(self._filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError, match="No space left on device"):
                _write_for_ever(descriptor)
        finally:
            os.close(descriptor)

    def end(self, served: Served) -> None:
        self._filler.unlink()


def _write_for_ever(descriptor: int) -> None:
    while True:
        os.write(descriptor, bytes(4096))


class ReadOnlyFolder:
    """A read-only bind mount of ``folder`` over itself (as root, modes do not stop writes)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._mount = contextlib.ExitStack()

    def start(self, served: Served) -> None:
        self._mount.enter_context(
            mounted(self._folder, ("--bind", str(self._folder)), ("-o", "remount,bind,ro"))
        )

    def end(self, served: Served) -> None:
        self._mount.close()


# -- the audit log's disk full ------------------------------------------------------------------


@contextlib.contextmanager
def audit_disk(kind: str, folder: Path) -> Iterator[Fault]:
    """The fault ``kind`` for an audit log in ``FOLDER/audit`` (a tmpfs for ``tmpfs``)."""
    audit = folder / "audit"
    audit.mkdir(mode=0o700)
    if kind == "rlimit":
        yield FileSizeLimit()
        return
    with mounted(audit, ("-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs")):
        yield FullTmpfs(audit)


def operator_rows(rows: list[AuditRecord]) -> list[tuple[str, int | None, object]]:
    """(kind, bind, result) of every operator action recorded."""
    return [
        (row.kind, row.bind_id, row.detail["result"])
        for row in rows
        if row.kind.startswith("operator-")
    ]


def run_rows(served: Served) -> list[AuditRecord]:
    with AuditReader(served.audit) as reader:
        return reader.query(run=reader.latest_run())


@pytest.mark.parametrize("kind", ["tmpfs", "rlimit"])
def test_with_the_audit_disk_full_traffic_flows_operators_are_answered_and_nothing_is_lost(
    kind: str,
) -> None:
    """While the audit file cannot grow: `fwx binds allow` and `terminate` answer S_OK, a
    CONNECT relays, `fwx status --json` names the error. Once it can, every acknowledged
    action is in the file, the run's events are gap-free, and nothing was lost or missed."""
    with (
        origin_servers() as origin,
        short_folder("fwx-disk-") as folder,
        audit_disk(kind, folder) as fault,
    ):
        with serve(folder, rules_text(origin)) as served:
            acknowledged = while_full(served, origin, fault)
            wait_until(lambda: served.ask("status")["audit_error"] is None, "the log is written")
            assert set(acknowledged) <= set(operator_rows(run_rows(served)))
        rows = run_rows(served)
    seqs = [row.seq for row in rows if row.seq is not None]
    assert seqs == list(range(1, len(seqs) + 1))
    assert set(acknowledged) <= set(operator_rows(rows))
    [stopped] = [row for row in rows if row.kind == "service-stopped"]
    assert (stopped.detail["lost"], stopped.detail["missed"]) == (0, 0)


def while_full(served: Served, origin: Origin, fault: Fault) -> list[tuple[str, int, str]]:
    """Hold three binds, fill the disk, act on them, check the service; then make room.

    Returns the operator actions acknowledged while the disk was full.
    """
    clients = [socks(served) for _ in range(3)]
    try:
        binds = [open_bind(served, client)[0]["id"] for client in clients]
        fault.start(served)
        acknowledged = operator_actions(served, binds)
        status = served.json("status")
        assert str(served.audit) in status["audit_error"]
        assert any("cannot write the audit log" in line for line in served.logged("error"))
        prove_forwarding(served, origin)
        fault.end(served)
    finally:
        for client in clients:
            client.close()
    return acknowledged


def operator_actions(served: Served, binds: list[int]) -> list[tuple[str, int, str]]:
    """Allow two binds and terminate the third through `fwx binds`; what was acknowledged."""
    first, second, third = binds
    steps = [
        (("allow", str(first), "--protocol", "FTP"), "operator-allow", first),
        (
            ("allow", str(second), "--protocol", "FTP", "--include", REMOTE),
            "operator-allow",
            second,
        ),
        (("terminate", str(third)), "operator-terminate", third),
    ]
    acknowledged = []
    for args, kind, bind_id in steps:
        done = served.cli("binds", *args)
        assert done.exit_code == 0, done.output
        acknowledged.append((kind, bind_id, "S_OK"))
    return acknowledged


# -- the rule file's folder unwritable during a save --------------------------------------------


SAVE_FAULTS = {
    "read-only": (ReadOnlyFolder, "Read-only file system"),
    "rlimit": (lambda folder: FileSizeLimit(), "File too large"),
}
"""How each save fault is made, and the error it gives: a read-only folder refuses the
temporary file itself; the size limit lets it be created, then refuses its bytes."""


async def change_timeout(served: Served) -> Outcome:
    """The console's save: the rules in force with another pending-bind time-out, put."""
    async with RemoteControl(served.socket) as control:
        ruleset = await control.get_rules()
        service = dataclasses.replace(ruleset.service, pending_bind_timeout=300.0)
        return await control.put_rules(dataclasses.replace(ruleset, service=service))


REGISTER = ("protocols", "register", "--name", "Callback", "--port", "7000")
REGISTER_REST = ("--transport", "tcp", "--direction", "inbound")


@pytest.mark.parametrize("kind", list(SAVE_FAULTS))
def test_a_save_the_rule_folder_refuses_fails_in_one_line_and_changes_nothing(
    kind: str,
) -> None:
    """`fwx protocols register` and the console's put_rules, while the folder refuses writes:
    each answers E_INVALIDARG with one line naming the rule file; the rules in force, the file
    and its folder stay exactly as they were (no temporary file left); the service serves on,
    and once the folder is writable again the same save works."""
    make, error = SAVE_FAULTS[kind]
    with origin_servers() as origin, short_folder("fwx-save-") as folder:
        rules = folder / "rules" / "fwx.toml"
        rules.parent.mkdir()
        with serve(folder, rules_text(origin), rules=rules) as served:
            on_disk, in_force = rules.read_bytes(), served.ask("get_rules")["toml"]
            fault = make(rules.parent)
            fault.start(served)
            try:
                refused = served.cli(*REGISTER, *REGISTER_REST)
                outcome = asyncio.run(change_timeout(served))
            finally:
                fault.end(served)
            assert refused.exit_code == 11, refused.output
            assert f"{rules}: {error}" in one_line(refused.stderr)
            assert (outcome.result, one_line(outcome.message)) == (
                HResult.E_INVALIDARG,
                f"{rules}: {error}",
            )
            assert served.ask("get_rules")["toml"] == in_force
            assert rules.read_bytes() == on_disk
            assert os.listdir(rules.parent) == ["fwx.toml"]
            assert sum("operator-register-protocol" in x for x in served.logged("warning")) == 1
            prove_forwarding(served, origin)
            saved = served.cli(*REGISTER, *REGISTER_REST)
            assert saved.exit_code == 0, saved.output
            assert sorted(os.listdir(rules.parent)) == ["fwx.toml", "fwx.toml.bak"]
