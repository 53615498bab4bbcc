"""Every key of the console is a named action, listed in the footer and the command palette.

One table says which key runs which action, what it is called and what it
does; the main screen's bindings and the palette's commands are both built
from it. The actions call the same control methods as the matching `fwx`
commands (``allow``, ``terminate``, ``register``, ``rules``).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

__all__ = ["ACTIONS", "VIEWS", "ConsoleAction", "bindings"]

VIEWS = (
    ("binds", "Binds", "live binds: state, protocol, flags, IP filter, counters"),
    ("sessions", "Sessions", "client identities and their binds"),
    ("protocols", "Protocols", "registered protocol GUIDs"),
    ("rules", "Rules", "protocol rules in evaluation order"),
    ("ip-filters", "IP filters", "the rule file's named IP filter sets"),
    ("openings", "Openings", "the dynamic packet filter"),
    ("events", "Events", "the engine's event log"),
)
"""``(id, title, what it shows)`` of each screen, in key order 1..7."""


@dataclass(frozen=True, slots=True)
class ConsoleAction:
    """A key, the action it runs on the main screen, and how it is described."""

    action: str
    keys: str
    title: str
    help: str
    show: bool = True


ACTIONS: tuple[ConsoleAction, ...] = (
    *(
        ConsoleAction(f"show('{view}')", str(number), title, f"Show {title}: {what}", show=False)
        for number, (view, title, what) in enumerate(VIEWS, 1)
    ),
    ConsoleAction(
        "allow", "a", "Allow", "Retroactive allow on the selected bind: protocol, flags, IP filter"
    ),
    ConsoleAction("terminate", "t", "Terminate", "Terminate the selected bind (closes its socket)"),
    ConsoleAction(
        "register_protocol", "p", "Register", "Register a protocol GUID (saved to the rule file)"
    ),
    ConsoleAction("edit_rules", "e", "Edit rules", "Add, edit, delete, enable or disable rules"),
    ConsoleAction("filter", "slash", "Filter", "Filter the binds as you type"),
    ConsoleAction("sort", "s", "Sort", "Cycle the binds' sort order"),
    ConsoleAction("app.quit", "q", "Quit", "Stop the console (and its embedded service)"),
)


def bindings() -> list[BindingType]:
    """The key bindings of :data:`ACTIONS`."""
    return [Binding(item.keys, item.action, item.title, show=item.show) for item in ACTIONS]
