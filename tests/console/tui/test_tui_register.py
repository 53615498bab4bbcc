"""Registering a protocol from the console: checked as typed, saved to the rule file, applied."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select

from console.control.local import LocalControl
from console.tui.app import ConsoleApp
from console.tui.dialogs import RegisterDialog
from console.tui.protocols_view import ProtocolsView
from rules.loader import load
from tests.console.tui.console_pilot import main_screen, run_console, status, wait_for

GUID = uuid.UUID("0000abcd-0000-4000-8000-000000000001")


async def open_register(app: ConsoleApp, pilot: Pilot[Any]) -> RegisterDialog:
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(app.screen, RegisterDialog))
    await pilot.pause()
    assert isinstance(app.screen, RegisterDialog)
    return app.screen


def test_r70_a_registered_protocol_is_saved_and_listed(
    control: LocalControl, rules_path: Path
) -> None:
    """R70, R72: the fresh GUID is proposed; the protocol lands in the file and the registry."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        dialog = await open_register(app, pilot)
        assert dialog.query_one("#reg-guid", Input).value == str(GUID)
        assert dialog.query_one("#register").disabled
        await pilot.press(*"media-callback")
        dialog.query_one("#reg-port", Input).value = "5004"
        dialog.query_one("#reg-transport", Select).value = "udp"
        await pilot.pause()
        dialog.query_one("#reg-direction", Select).value = "receive-send"
        dialog.query_one("#reg-secondary", Input).value = "udp 5005-5010 receive"
        await pilot.pause()
        assert not dialog.query_one("#register").disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Register media-callback" in status(app))
        assert "S_OK" in status(app)
        saved = load(rules_path).protocol("media-callback")
        assert saved is not None
        assert saved.guid == GUID
        assert saved.secondary[0].port_low == 5005
        protocols = main_screen(app).query_one(ProtocolsView)
        await wait_for(pilot, lambda: str(GUID) in protocols.keys)

    run_console(control, scenario, new_guid=lambda: GUID)


def test_problems_are_shown_as_typed_and_block_the_register_button(
    control: LocalControl, rules_path: Path
) -> None:
    """R72, R73: a bad port and a duplicate name are refused before anything is saved."""
    before = rules_path.read_bytes()

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        dialog = await open_register(app, pilot)
        await pilot.press(*"FTP")
        dialog.query_one("#reg-port", Input).value = "70000"
        await pilot.pause()
        problems = str(dialog.query_one("#reg-problems").render())
        assert "duplicate name 'FTP'" in problems
        assert "out of range" in problems
        assert dialog.query_one("#register").disabled
        dialog.query_one("#reg-guid", Input).value = "a5b2c3d4-0000-4000-8000-000000000021"
        await pilot.pause()
        assert "ALREADY_EXISTS" in str(dialog.query_one("#reg-problems").render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RegisterDialog)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RegisterDialog))

    run_console(control, scenario)
    assert rules_path.read_bytes() == before
