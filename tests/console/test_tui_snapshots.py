"""SVG snapshots of every screen and dialog at a fixed size, with fixed clocks and GUIDs.

The engine runs on a manual clock and the console's clocks are fixed, so
ages, times and sequence numbers are the same on every run; the rule file is
named relatively and the service listens on a fixed loopback address.
Regenerate after a deliberate change with ``pytest tests/console/tui --snapshot-update``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from console.control.local import LocalControl
from console.tui.app import ConsoleApp
from console.tui.dialogs import AllowDialog, ConfirmDialog, RegisterDialog, RuleEditor, RuleForm
from engine import Engine, Flags, IpFilter, ManualClock, Transport
from engine.admin.snapshots import IpFilterSpec
from engine.service import Service
from tests.console.tui.console_pilot import SIZE, main_screen, wait_for

WALL = 1_700_000_000.0
"""The wall clock of the service's snapshots: 2023-11-14 22:13:20 UTC."""
NOW = WALL + 75
"""The console's clock: every bind is 75 s old."""
GUID = uuid.UUID("12345678-9abc-4def-8123-456789abcdef")
LISTEN = "127.0.0.61:10861"
FTP = "a5b2c3d4-0000-4000-8000-000000000021"


@pytest.fixture
def utc() -> Iterator[None]:
    """Times are shown in local time; make it UTC for the run."""
    saved = time.tzname
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        time.tzset()
        yield
    time.tzset()
    assert time.tzname == saved


def populate(engine: Engine) -> None:
    """Three sessions, a pending bind with discards, an allowed UDP bind, a plain pending one."""
    alice = engine.session("127.0.0.5", "alice", authenticated=True)
    _, pending = engine.bind(alice, Transport.TCP, ("127.0.0.1", 40001))
    assert pending is not None
    for port in (5001, 5002, 5003):
        engine.inbound(Transport.TCP, pending.address, ("127.0.0.3", port))
    bob = engine.session("127.0.0.6", "bob", authenticated=True)
    _, media = engine.bind(bob, Transport.UDP, ("127.0.0.1", 40002))
    assert media is not None
    ip_filter = IpFilter.from_specs(["127.0.0.2", "203.0.113.0/24"])
    engine.retroactive_allow_bind(
        bob, 17, media.address, None, uuid.UUID(FTP), Flags.BIDIRECTIONAL, ip_filter,
        actor="operator:test",
    )  # fmt: skip
    anonymous = engine.session("127.0.0.7")
    engine.bind(anonymous, Transport.TCP, ("127.0.0.1", 40003))


@pytest.fixture
def snap_control(
    rules_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None
) -> Iterator[LocalControl]:
    """A service on a manual clock, with :func:`populate`'s binds, named by a relative path."""
    monkeypatch.chdir(rules_path.parent)
    path = Path(rules_path.name)
    clock = ManualClock(1000.0)
    service = Service(path, listen=LISTEN, clock=clock)
    local = LocalControl(service, clock=clock, wall_clock=lambda: WALL, actor="operator:test")
    local.start()
    local.call(populate)
    try:
        yield local
    finally:
        local.stop()


def console(control: LocalControl) -> ConsoleApp:
    """The app with animations off: a tab's underline caught mid-slide made a busy run flaky."""
    app = ConsoleApp(control, clock=lambda: NOW, new_guid=lambda: GUID)
    app.animation_level = "none"
    return app


async def settled(pilot: Pilot[Any]) -> None:
    """Wait until the three binds are listed."""
    table = main_screen(pilot.app).binds_view.table  # type: ignore[arg-type]
    await wait_for(pilot, lambda: table.row_count == 3)
    await pilot.pause()


async def steady(pilot: Pilot[Any]) -> None:
    """Stop text cursors blinking (a screenshot must not catch one half-way) and settle."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause(0.2)


def keys_after_settling(*keys: str, until: type | None = None) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press(*keys)
        if until is not None:
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, until))
        await steady(pilot)

    return run_before


SCREENS = [
    ("binds", (), None),
    ("binds_filtered", ("slash", *"alice", "enter"), None),
    ("sessions", ("2",), None),
    ("protocols", ("3",), None),
    ("rules", ("4",), None),
    ("ip_filters", ("5",), None),
    ("openings", ("6",), None),
    ("allow_tcp", ("a",), AllowDialog),
    ("allow_udp", ("down", "down", "a"), AllowDialog),
    ("terminate", ("t",), ConfirmDialog),
    ("register", ("p",), RegisterDialog),
    ("rule_editor", ("e",), RuleEditor),
]


@pytest.mark.parametrize(("keys", "until"), [pytest.param(k, u, id=n) for n, k, u in SCREENS])
def test_screen(
    snap_compare: Any, snap_control: LocalControl, keys: tuple[str, ...], until: type | None
) -> None:
    assert snap_compare(console(snap_control), run_before=keys_after_settling(*keys, until=until),
                        terminal_size=SIZE)  # fmt: skip


def test_rule_form(snap_compare: Any, snap_control: LocalControl) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await keys_after_settling("e", until=RuleEditor)(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RuleForm))
        await steady(pilot)

    assert snap_compare(console(snap_control), run_before=run_before, terminal_size=SIZE)


def test_events(snap_compare: Any, snap_control: LocalControl) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("7")
        await snap_control.allow(3, FTP, 0, IpFilterSpec("ranges", include=("127.0.0.2",)))
        await snap_control.allow(1, "7e1e7e1e-0000-4000-8000-000000000023", 0, IpFilterSpec())
        log = pilot.app.screen.query_one("#events-log")
        await wait_for(pilot, lambda: len(log.lines) >= 2)  # type: ignore[attr-defined]
        await steady(pilot)

    assert snap_compare(console(snap_control), run_before=run_before, terminal_size=SIZE)
