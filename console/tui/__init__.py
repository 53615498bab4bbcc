"""The Textual console: the app, its screens, widgets, dialogs and the demo traffic."""

from __future__ import annotations

from console.tui.app import ConsoleApp

__all__ = ["ConsoleApp"]
