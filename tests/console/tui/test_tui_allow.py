"""Retroactive allow from the console, on real SOCKS binds: every result code the contract has."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select

from console.control.local import LocalControl
from console.tui.app import ConsoleApp
from console.tui.binds_view import BindsView
from console.tui.dialogs import AllowDialog
from tests.console.tui.console_pilot import (
    SocksBind,
    bind_state,
    main_screen,
    run_console,
    shown_bind,
    status,
    wait_for,
)

TELNET = "7e1e7e1e-0000-4000-8000-000000000023"


async def open_allow(app: ConsoleApp, pilot: Pilot[Any]) -> AllowDialog:
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, AllowDialog))
    await pilot.pause()
    assert isinstance(app.screen, AllowDialog)
    return app.screen


async def submit(app: ConsoleApp, pilot: Pilot[Any], expected: str) -> None:
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: expected in status(app))


async def peer_attempt(target: tuple[str, int], peer: str) -> bytes:
    """Connect to ``target`` from ``peer`` and send a line; what comes back before the close.

    A discarded attempt is reset, during or right after the TCP handshake.
    """
    try:
        reader, writer = await asyncio.open_connection(*target, local_addr=(peer, 0))
    except ConnectionResetError:
        return b""
    try:
        writer.write(b"ping\n")
        return await asyncio.wait_for(reader.read(100), 2)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


def test_r26_allow_with_an_ip_filter_gives_s_ok_and_traffic_flows(control: LocalControl) -> None:
    """R26, R28, R100, R101: S_OK; a peer outside the filter is still refused, one inside is not."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        bind_id = await shown_bind(app, pilot, socks)
        assert bind_state(app, bind_id) == "pending"
        dialog = await open_allow(app, pilot)
        await pilot.click("#ipf-ranges")
        dialog.query_one("#ipf-include", Input).value = "127.0.0.2"
        await pilot.pause()
        await submit(app, pilot, "S_OK (0x00000000)")
        await wait_for(pilot, lambda: bind_state(app, bind_id) == "allowed")
        detail = str(main_screen(app).query_one("#bind-detail").render())
        assert "127.0.0.2" in detail
        assert "operator:test" in detail
        assert await peer_attempt(socks.address, "127.0.0.3") == b""
        _, writer = await asyncio.open_connection(*socks.address, local_addr=("127.0.0.2", 0))
        head = await asyncio.wait_for(socks.reader.readexactly(4), 5)
        assert head[:2] == b"\x05\x00"
        writer.close()
        socks.close()

    run_console(control, scenario)


def test_r24_allowing_an_allowed_bind_gives_s_false(control: LocalControl) -> None:
    """R24: the second allow changes nothing and says S_FALSE."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        await shown_bind(app, pilot, socks)
        await open_allow(app, pilot)
        await submit(app, pilot, "S_OK")
        await open_allow(app, pilot)
        await submit(app, pilot, "S_FALSE (0x00000001): the bind exists and was already allowed")
        socks.close()

    run_console(control, scenario)


def test_r22_a_udp_only_flag_on_a_tcp_bind_gives_e_invalidarg(control: LocalControl) -> None:
    """R22: BIDIRECTIONAL is disabled for TCP (reason shown); INCREASE_RECEIVE_BUFFER is refused."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        bind_id = await shown_bind(app, pilot, socks)
        dialog = await open_allow(app, pilot)
        assert dialog.query_one("#flag-bidirectional").disabled
        assert "UDP binds only" in str(dialog.query_one(".hint").render())
        await pilot.click("#flag-rcvbuf")
        await submit(app, pilot, "E_INVALIDARG (0x80070057): a parameter is invalid")
        assert bind_state(app, bind_id) == "pending"
        socks.close()

    run_console(control, scenario)


def test_r25_a_protocol_the_rules_do_not_allow_is_denied(control: LocalControl) -> None:
    """R25: FWX_E_PROTOCOL_RULES_DENIED, and the bind stays pending."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        bind_id = await shown_bind(app, pilot, socks)
        dialog = await open_allow(app, pilot)
        dialog.query_one("#allow-protocol", Select).value = TELNET
        await submit(app, pilot, "FWX_E_PROTOCOL_RULES_DENIED (0xC004000D)")
        assert bind_state(app, bind_id) == "pending"
        socks.close()

    run_console(control, scenario)


def test_r84_no_protocol_at_all_is_denied_by_policy(control: LocalControl) -> None:
    """R84: the policy check is by GUID; without one, the rules cannot allow the bind."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        bind_id = await shown_bind(app, pilot, socks)
        dialog = await open_allow(app, pilot)
        dialog.query_one("#allow-protocol", Select).clear()
        await submit(app, pilot, "FWX_E_PROTOCOL_RULES_DENIED")
        assert bind_state(app, bind_id) == "pending"
        socks.close()

    run_console(control, scenario)


def test_r23_a_terminating_bind_gives_fwx_e_terminating(idle_control: LocalControl) -> None:
    """R23: the bind is shown TERMINATING and the allow answers FWX_E_TERMINATING."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(idle_control)
        bind_id = await shown_bind(app, pilot, socks)

        def start_ending(engine: Any) -> None:
            engine.terminate(engine.get_bind(bind_id))

        idle_control.call(start_ending)
        await wait_for(pilot, lambda: bind_state(app, bind_id) == "terminating")
        await open_allow(app, pilot)
        await submit(app, pilot, "FWX_E_TERMINATING (0xC0040001)")
        socks.close()

    run_console(idle_control, scenario)


def test_r18_a_bind_gone_before_the_allow_is_not_found(control: LocalControl) -> None:
    """R18, R103: the client left while the dialog was open: NOT_FOUND."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        bind_id = await shown_bind(app, pilot, socks)
        await open_allow(app, pilot)
        socks.close()
        await wait_for(pilot, lambda: control.call(lambda e: e.get_bind(bind_id)) is None)
        await submit(app, pilot, "HRESULT_FROM_WIN32(ERROR_NOT_FOUND) (0x80070490)")

    run_console(control, scenario)


def test_typed_ranges_are_checked_as_you_type(control: LocalControl) -> None:
    """A bad range disables the Allow button and says why; cancelling changes nothing."""

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        socks = await SocksBind.open(control)
        bind_id = await shown_bind(app, pilot, socks)
        dialog = await open_allow(app, pilot)
        await pilot.click("#ipf-ranges")
        dialog.query_one("#ipf-include", Input).value = "10.0.0.1/8"
        await pilot.pause()
        assert dialog.query_one("#allow").disabled
        assert "10.0.0.0/8" in str(dialog.query_one("#ipf-problems").render())
        dialog.query_one("#ipf-include", Input).value = "10.0.0.0/8"
        await pilot.pause()
        assert not dialog.query_one("#allow").disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AllowDialog))
        assert bind_state(app, bind_id) == "pending"
        socks.close()

    run_console(control, scenario)


def test_allow_without_a_selected_bind_says_so(control: LocalControl) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        await pilot.pause()
        assert main_screen(app).query_one(BindsView).selected() is None
        await pilot.press("a")
        await wait_for(pilot, lambda: "Select a bind to allow first" in status(app))

    run_console(control, scenario)
