"""Helpers of the console's Pilot tests: run a scenario, wait for the screen, real SOCKS peers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from console.control.local import LocalControl
from console.tui.app import ConsoleApp
from console.tui.demo_client import open_socks, request
from console.tui.keyed_table import KeyedTable
from console.tui.main_screen import MainScreen
from engine.socks import Command

SIZE = (120, 34)

Scenario = Callable[[ConsoleApp, Pilot[Any]], Awaitable[None]]


def run_console(control: LocalControl, scenario: Scenario, **options: Any) -> None:
    """Run ``scenario`` against a console over ``control``, headless, bounded in time."""

    async def main() -> None:
        app = ConsoleApp(control, **options)
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(scenario(app, pilot), 30)

    asyncio.run(main())


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the console did not get there in time")
        await pilot.pause(0.05)


def main_screen(app: ConsoleApp) -> MainScreen:
    """The app's main screen (the bottom of the stack)."""
    screen = app.screen_stack[0]
    assert isinstance(screen, MainScreen)
    return screen


def status(app: ConsoleApp) -> str:
    """The text of the status line."""
    return str(main_screen(app).query_one("#status").render())


def bind_state(app: ConsoleApp, bind_id: int) -> str | None:
    """The state the console holds for ``bind_id``."""
    bind = main_screen(app).store.get(bind_id)
    return None if bind is None else bind.state


class SocksBind:
    """A real SOCKS5 BIND from a loopback client address, kept open until closed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 address: tuple[str, int]) -> None:  # fmt: skip
        self.reader = reader
        self.writer = writer
        self.address = address

    @classmethod
    async def open(cls, control: LocalControl, client: str = "127.0.0.5") -> SocksBind:
        """BIND through the service of ``control`` from ``client``."""
        reader, writer = await open_socks(control.service.address, client)
        address = await request(reader, writer, Command.BIND, ("0.0.0.0", 0))
        return cls(reader, writer, address)

    def close(self) -> None:
        """Close the SOCKS connection (the service then ends the bind)."""
        self.writer.close()


async def shown_bind(app: ConsoleApp, pilot: Pilot[Any], socks: SocksBind) -> int:
    """Wait for ``socks``'s bind to appear, put the cursor on it, return its id."""
    screen = main_screen(app)

    def find() -> int | None:
        return next((b.id for b in screen.store if b.port == socks.address[1]), None)

    await wait_for(pilot, lambda: find() is not None)
    bind_id = find()
    assert bind_id is not None
    table = screen.query_one("#binds-table", KeyedTable)
    await wait_for(pilot, lambda: str(bind_id) in table.keys)
    table.move_cursor(row=table.get_row_index(str(bind_id)))
    table.focus()
    await pilot.pause()
    return bind_id
