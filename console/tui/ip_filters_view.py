"""The IP filters screen: the rule file's named sets of remote addresses."""

from __future__ import annotations

from collections.abc import Iterable

from console.tui.keyed_table import KeyedTable
from console.tui.rows import Cell
from engine.admin.snapshots import IpFilterSetSnapshot

__all__ = ["IpFiltersView"]

COLUMNS = (
    ("name", "name"),
    ("include", "include"),
    ("exclude", "exclude"),
    ("description", "description"),
)


def ip_filter_row(item: IpFilterSetSnapshot) -> tuple[Cell, ...]:
    """The cells of a named set's row."""
    return (
        item.name,
        ", ".join(item.include) or "(nothing: blocks all)",
        ", ".join(item.exclude) or "-",
        item.description or "-",
    )


class IpFiltersView(KeyedTable):
    """Named IP filter sets, for the allow dialog's "named set" choice."""

    def __init__(self) -> None:
        """An empty IP filter sets table."""
        super().__init__(COLUMNS, id="ip-filters-table")

    def show(self, sets: Iterable[IpFilterSetSnapshot]) -> None:
        """Show exactly ``sets``."""
        self.show_only((item.name, ip_filter_row(item)) for item in sets)
