"""Terminating a bind from the console: confirmed first, and the socket really closes."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.pilot import Pilot

from console.control.local import LocalControl
from console.tui.app import ConsoleApp
from console.tui.dialogs import ConfirmDialog
from tests.console.tui.console_pilot import (
    SocksBind,
    bind_state,
    main_screen,
    run_console,
    shown_bind,
    status,
    wait_for,
)


def test_r33_terminate_closes_the_socket_and_removes_the_bind(control: LocalControl) -> None:
    """R33, R103: after "yes" the client's SOCKS connection is closed and the bind is gone."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        bind_id = await shown_bind(app, pilot, socks)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: "Terminate bind" in status(app))
        assert "S_OK" in status(app)
        rest = await asyncio.wait_for(socks.reader.read(), 5)
        assert rest[1:2] in (b"", b"\x01"), "at most a failure reply, then the close"
        await wait_for(pilot, lambda: bind_state(app, bind_id) is None)
        assert control.call(lambda engine: engine.get_bind(bind_id)) is None
        refused = False
        try:
            _, writer = await asyncio.open_connection(*socks.address)
            writer.close()
        except OSError:
            refused = True
        assert refused
        socks.close()

    run_console(control, scenario)


def test_answering_no_leaves_the_bind_alone(control: LocalControl) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        bind_id = await shown_bind(app, pilot, socks)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is main_screen(app))
        await pilot.pause(0.3)
        assert bind_state(app, bind_id) == "pending"
        assert control.call(lambda engine: engine.get_bind(bind_id)) is not None
        socks.close()

    run_console(control, scenario)


def test_terminate_without_a_selected_bind_says_so(control: LocalControl) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        await pilot.press("t")
        await wait_for(pilot, lambda: "Select a bind to terminate first" in status(app))

    run_console(control, scenario)
