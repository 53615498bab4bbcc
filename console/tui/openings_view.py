"""The Openings screen: the dynamic packet filter, one opening per allowed bind."""

from __future__ import annotations

from collections.abc import Iterable

from console.tui.keyed_table import KeyedTable
from console.tui.rows import Cell
from engine.admin.snapshots import OpeningSnapshot

__all__ = ["OpeningsView"]

COLUMNS = (
    ("bind", "bind"),
    ("transport", "tr"),
    ("address", "external address"),
    ("remote", "remote addresses"),
)


def opening_row(opening: OpeningSnapshot) -> tuple[Cell, ...]:
    """The cells of ``opening``'s row."""
    remote = "any" if opening.remote is None else ", ".join(opening.remote) or "none (blocks all)"
    return (opening.bind_id, opening.transport, opening.address, remote)


class OpeningsView(KeyedTable):
    """Openings exist exactly while their bind is allowed (and packet filtering is on)."""

    def __init__(self) -> None:
        """An empty openings table."""
        super().__init__(COLUMNS, id="openings-table")

    def show(self, openings: Iterable[OpeningSnapshot]) -> None:
        """Show exactly ``openings``."""
        self.show_only((str(item.bind_id), opening_row(item)) for item in openings)
