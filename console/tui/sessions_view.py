"""The Sessions screen: one row per client identity, with its bind counts."""

from __future__ import annotations

from collections.abc import Iterable

from console.tui.format import clock_time
from console.tui.keyed_table import KeyedTable
from console.tui.rows import Cell
from engine.admin.snapshots import SessionSnapshot

__all__ = ["SessionsView"]

COLUMNS = (
    ("id", "id"),
    ("who", "user@client"),
    ("flags", "flags"),
    ("binds", "binds"),
    ("pending", "pending"),
    ("since", "since"),
)


def session_row(session: SessionSnapshot) -> tuple[Cell, ...]:
    """The cells of ``session``'s row."""
    return (
        session.id,
        session.who,
        ",".join(flag.lower() for flag in session.flags) or "-",
        session.binds,
        session.pending,
        clock_time(session.created),
    )


class SessionsView(KeyedTable):
    """Live sessions, updated in place."""

    def __init__(self) -> None:
        """An empty sessions table."""
        super().__init__(COLUMNS, id="sessions-table")

    def show(self, sessions: Iterable[SessionSnapshot]) -> None:
        """Show exactly ``sessions`` (a full listing)."""
        self.show_only((str(item.id), session_row(item)) for item in sessions)

    def apply(self, changed: Iterable[SessionSnapshot], removed: Iterable[int]) -> None:
        """Take a batch of changes."""
        for session_id in removed:
            self.drop(str(session_id))
        for session in changed:
            self.put(str(session.id), session_row(session))
