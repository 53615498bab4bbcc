"""The keyed table: rows by key, cell-level updates, removals, sorted placement, the cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console.tui.keyed_table import KeyedTable

COLUMNS = (("id", "id"), ("name", "name"), ("state", "state"))


class TableApp(App[None]):
    """Just a table, and the messages it posted."""

    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str | None] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="table")

    def on_keyed_table_row_highlighted(self, message: KeyedTable.RowHighlighted) -> None:
        self.highlighted.append(message.key)

    def on_keyed_table_row_selected(self, message: KeyedTable.RowSelected) -> None:
        self.selected.append(message.key)


def run(scenario: Callable[[TableApp, KeyedTable, Pilot[Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        app = TableApp()
        async with app.run_test(size=(60, 12)) as pilot:
            table = app.query_one(KeyedTable)
            table.focus()
            await scenario(app, table, pilot)

    asyncio.run(asyncio.wait_for(main(), 30))


def lines(table: KeyedTable) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(table.row_count + 1)]


def test_rows_are_added_updated_and_dropped_by_key() -> None:
    async def scenario(app: TableApp, table: KeyedTable, pilot: Pilot[Any]) -> None:
        assert table.put("7", (7, "alice", Text("PENDING", style="yellow")))
        assert table.put("8", (8, "[::1]:80", "ALLOWED"))
        assert not table.put("7", (7, "alice", Text("ALLOWED", style="green")))
        await pilot.pause()
        assert lines(table) == [
            " id  name      state",
            "  7  alice     ALLOWED",
            "  8  [::1]:80  ALLOWED",
        ]
        table.drop("7")
        table.drop("missing")
        await pilot.pause()
        assert table.row_count == 1
        assert table.keys == {"8"}

    run(scenario)


def test_a_column_widens_for_a_longer_value() -> None:
    async def scenario(app: TableApp, table: KeyedTable, pilot: Pilot[Any]) -> None:
        table.put("1", (1, "a", "x"))
        table.put_cell("1", 1, "a much longer name")
        await pilot.pause()
        assert lines(table)[1] == "  1  a much longer name  x"

    run(scenario)


def test_show_only_keeps_exactly_the_rows_given_in_their_order() -> None:
    async def scenario(app: TableApp, table: KeyedTable, pilot: Pilot[Any]) -> None:
        for number in (1, 2, 3):
            table.put(str(number), (number, "n", "s"))
        table.show_only([("3", (3, "n", "s")), ("4", (4, "n", "s")), ("1", (1, "n", "s"))])
        assert [table.key_at(row) for row in range(table.row_count)] == ["3", "4", "1"]

    run(scenario)


def test_reposition_keeps_a_sorted_table_sorted_and_the_cursor_on_its_row() -> None:
    async def scenario(app: TableApp, table: KeyedTable, pilot: Pilot[Any]) -> None:
        ranks = {str(number): number for number in range(0, 100, 10)}
        for key in ranks:
            table.put(key, (int(key), "n", "s"))
        table.move_cursor(3)
        assert table.selected_key() == "30"
        ranks["5"] = 5
        table.put("5", (5, "n", "s"))
        ranks["90"] = -1
        table.reposition(["5", "90"], ranks.__getitem__)
        order = [table.key_at(row) for row in range(table.row_count)]
        assert order == sorted(ranks, key=ranks.__getitem__)
        assert table.selected_key() == "30"
        table.drop_all(["0", "10"])
        assert table.selected_key() == "30"

    run(scenario)


def test_the_cursor_moves_with_keys_and_reports_rows() -> None:
    async def scenario(app: TableApp, table: KeyedTable, pilot: Pilot[Any]) -> None:
        for number in range(30):
            table.put(str(number), (number, "n", "s"))
        await pilot.pause()
        await pilot.press("down", "down", "end", "up", "home", "pagedown", "enter")
        await pilot.pause()
        assert app.highlighted[:6] == ["0", "1", "2", "29", "28", "0"]
        assert table.cursor_row > 0
        assert app.selected == [table.selected_key()]
        top = int(table.scroll_offset.y)
        assert top <= table.cursor_row
        assert table.visible_keys()[0] == table.key_at(top)

    run(scenario)


def test_an_empty_table_has_no_selection() -> None:
    async def scenario(app: TableApp, table: KeyedTable, pilot: Pilot[Any]) -> None:
        await pilot.press("down", "enter")
        assert table.selected_key() is None
        assert app.selected == []

    run(scenario)
