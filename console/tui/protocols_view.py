"""The Protocols screen: every protocol GUID the engine knows, and where it comes from."""

from __future__ import annotations

from collections.abc import Iterable

from console.tui.keyed_table import KeyedTable
from console.tui.rows import Cell
from engine.admin.snapshots import ProtocolSnapshot

__all__ = ["ProtocolsView"]

COLUMNS = (
    ("name", "name"),
    ("guid", "GUID"),
    ("primary", "primary"),
    ("secondary", "secondary"),
    ("filter", "filter"),
    ("source", "source"),
)


def protocol_row(protocol: ProtocolSnapshot) -> tuple[Cell, ...]:
    """The cells of ``protocol``'s row."""
    return (
        protocol.name,
        protocol.guid,
        protocol.primary,
        "; ".join(protocol.secondary) or "-",
        protocol.filter or "-",
        protocol.source,
    )


class ProtocolsView(KeyedTable):
    """Registered protocols (rule file first, then run-time registrations)."""

    def __init__(self) -> None:
        """An empty protocols table."""
        super().__init__(COLUMNS, id="protocols-table")

    def show(self, protocols: Iterable[ProtocolSnapshot]) -> None:
        """Show exactly ``protocols``."""
        self.show_only((item.guid, protocol_row(item)) for item in protocols)
