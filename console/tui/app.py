"""The fwx console: a Textual app over one :class:`~console.control.interface.Control`.

The app itself only wires things: the main screen shows the service, the
command palette offers every named action. It never touches engine objects.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.screen import Screen

from console.control.interface import Control
from console.tui.actions import ACTIONS
from console.tui.main_screen import MainScreen

__all__ = ["ConsoleApp"]


class ConsoleApp(App[None]):
    """The operator console."""

    CSS_PATH = "console.tcss"
    TITLE = "fwx console"

    def __init__(
        self,
        control: Control,
        *,
        clock: Callable[[], float] = time.time,
        new_guid: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        """A console for the service behind ``control``.

        ``clock`` (wall-clock seconds) and ``new_guid`` are parameters so
        tests and screenshots can fix them.
        """
        super().__init__()
        self.control = control
        self._clock = clock
        self._new_guid = new_guid

    def get_default_screen(self) -> Screen[None]:
        """The main screen is the bottom of the stack."""
        return MainScreen(self.control, self._clock, self._new_guid)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: every console action (on the main screen), then Textual's own."""
        if isinstance(screen, MainScreen):
            for item in ACTIONS:
                if not item.action.startswith("app."):
                    run = partial(self.run_action, item.action, screen)
                    yield SystemCommand(item.title, f"[{item.keys}] {item.help}", run)
        yield from super().get_system_commands(screen)
