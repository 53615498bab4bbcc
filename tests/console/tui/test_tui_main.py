"""The main screen: every view a key away, filter and sort, the palette, the live totals."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import TabbedContent

from console.control.local import LocalControl
from console.tui.actions import ACTIONS, VIEWS
from console.tui.app import ConsoleApp
from console.tui.binds_view import BindsView
from console.tui.keyed_table import KeyedTable
from tests.console.tui.console_pilot import SocksBind, main_screen, run_console, status, wait_for


def test_every_view_is_one_key_away(control: LocalControl) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        tabs = main_screen(app).query_one(TabbedContent)
        for number, (view, _, _) in enumerate(VIEWS, 1):
            await pilot.press(str(number))
            await wait_for(pilot, lambda view=view: tabs.active == view)

    run_console(control, scenario)


def test_the_palette_offers_every_action(control: LocalControl) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        titles = {command.title for command in app.get_system_commands(main_screen(app))}
        assert {item.title for item in ACTIONS if not item.action.startswith("app.")} <= titles
        footer_keys = {binding.key for binding in main_screen(app).BINDINGS}  # type: ignore[union-attr]
        assert {"a", "t", "p", "e", "slash", "s", "q"} <= footer_keys

    run_console(control, scenario)


def test_bind_actions_are_greyed_out_away_from_the_binds_view(control: LocalControl) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        screen = main_screen(app)
        assert screen.check_action("allow", ()) is True
        await pilot.press("2")
        await pilot.pause()
        assert screen.check_action("allow", ()) is None
        assert screen.check_action("register_protocol", ()) is True

    run_console(control, scenario)


def test_filter_as_you_type_and_sort(control: LocalControl) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        first = await SocksBind.open(control, "127.0.0.5")
        second = await SocksBind.open(control, "127.0.0.6")
        table = main_screen(app).query_one("#binds-table", KeyedTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("slash", *"127.0.0.6")
        await wait_for(pilot, lambda: table.row_count == 1)
        view = main_screen(app).query_one(BindsView)
        selected = view.selected()
        assert selected is not None
        assert selected.client == "127.0.0.6"
        await pilot.press("enter")
        assert table.has_focus
        await pilot.press("slash", *["backspace"] * 9)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("enter", "s")
        await wait_for(pilot, lambda: "Binds sorted by newest" in status(app))
        assert table.values(table.key_at(0))[0] == max(bind.id for bind in view.store)
        first.close()
        second.close()
        await wait_for(pilot, lambda: table.row_count == 0)

    run_console(control, scenario)


def test_the_header_counts_binds_by_state_and_sessions(control: LocalControl) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        totals = main_screen(app).query_one("#bind-totals")
        await wait_for(pilot, lambda: "1 PENDING" in str(totals.render()))
        assert "1 session" in str(totals.render())
        info = str(main_screen(app).query_one("#service-info").render())
        host, port = control.service.address
        assert f"SOCKS {host}:{port}" in info
        socks.close()

    run_console(control, scenario)
