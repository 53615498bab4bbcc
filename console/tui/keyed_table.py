"""A table of keyed rows that stays fast at 10,000 rows: the console's live tables.

Live tables are never cleared and refilled (that loses the cursor and costs
a full re-layout, Textual issue #5273): a new key adds a row, a known key
updates only the cells whose value changed, a gone key removes its row.

This is a Line API widget rather than Textual's ``DataTable``: measured with
10,000 rows, ``DataTable`` took 3.5 s to add them and 9.7 s more to lay them
out, 70 ms to remove one row and about 45 ms of CPU to move the cursor,
because it recomputes per-row structures on every change. Here a change to
a row that is not on screen costs a dictionary update, and drawing touches
only the visible lines, so the console keeps its ~100 ms budget under load.
Strings are shown as plain text, never parsed as markup (an IPv6 address in
brackets is not a style).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.tui.rows import Cell

__all__ = ["Column", "KeyedTable"]

Column = tuple[str, str]
"""``(key, label)`` of a column."""

_PAD = 1
"""Blank cells on each side of a column."""

_STRIP_CACHE = 4000
"""Drawn lines kept for reuse; beyond this the cache starts afresh."""


def _width(value: Cell) -> int:
    if isinstance(value, Text):
        return value.cell_len
    if isinstance(value, int):
        return len(str(value))
    return cell_len(value)


def _changed(old: tuple[Cell, ...], new: tuple[Cell, ...]) -> Iterable[tuple[int, Cell]]:
    """``(index, value)`` of the cells of ``new`` that differ from ``old``."""
    pairs = enumerate(zip(new, old, strict=True))
    return ((index, value) for index, (value, before) in pairs if value != before)


def _renderable(value: Cell) -> Text:
    if isinstance(value, Text):
        return value
    if isinstance(value, int):
        return Text(str(value), justify="right", no_wrap=True)
    return Text(value, no_wrap=True)


class KeyedTable(ScrollView, can_focus=True):
    """Rows identified by string keys, with a row cursor and a fixed header line."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header",
        "keyed-table--cursor",
        "keyed-table--odd",
    }
    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
        background: $surface;
    }
    KeyedTable > .keyed-table--header {
        text-style: bold;
        background: $panel;
    }
    KeyedTable > .keyed-table--odd {
        background: $surface-lighten-1;
    }
    KeyedTable > .keyed-table--cursor {
        background: $secondary 40%;
    }
    KeyedTable:focus > .keyed-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class RowHighlighted(Message):
        """The cursor is on another row (``key`` None: the table is empty)."""

        def __init__(self, table: KeyedTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            """The table (so ``@on(..., "#id")`` selectors work)."""
            return self.table

    class RowSelected(Message):
        """Enter was pressed on row ``key``."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            """The table (so ``@on(..., "#id")`` selectors work)."""
            return self.table

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        """A table with ``columns``; rows are added with :meth:`put`."""
        super().__init__(id=id)
        self._column_keys = tuple(key for key, _ in columns)
        self._labels = tuple(Text(label, style="bold", no_wrap=True) for _, label in columns)
        self._widths = [label.cell_len for label in self._labels]
        self._values: dict[str, tuple[Cell, ...]] = {}
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._order: list[str] = []
        self._index: dict[str, int] | None = {}
        self.cursor_row = 0
        self._highlighted: str | None = None
        self._resize_pending = False
        self._strips: dict[tuple[str, bool, bool], Strip] = {}
        self._styles: tuple[Style, Style, Style, Style] | None = None

    # -- rows ------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """How many rows the table holds."""
        return len(self._order)

    @property
    def keys(self) -> set[str]:
        """The keys of the rows shown."""
        return set(self._values)

    def visible_keys(self) -> list[str]:
        """The keys of the rows on screen now."""
        top = int(self.scroll_offset.y)
        return self._order[top : top + self._visible_rows]

    def values(self, key: str) -> tuple[Cell, ...]:
        """The values shown in row ``key``."""
        return self._values[key]

    def key_at(self, row: int) -> str:
        """The key of the row at position ``row``."""
        return self._order[row]

    def get_row_index(self, key: str) -> int:
        """The position of row ``key``."""
        index = self._index
        if index is None:
            index = self._index = {item: number for number, item in enumerate(self._order)}
        return index[key]

    def put(self, key: str, values: Sequence[Cell]) -> bool:
        """Show ``values`` in row ``key``: add the row, or update the cells that changed.

        Returns True when a row was added (at the end). Cells are turned into
        text only when their row is drawn.
        """
        row = tuple(values)
        old = self._values.get(key)
        if old == row:
            return False
        self._values[key] = row
        self._cells.pop(key, None)
        self._forget_strips(key)
        grew = self._grow(enumerate(row) if old is None else _changed(old, row))
        if grew:
            self._forget_strips()
        if old is None:
            self._order.append(key)
            if self._index is not None:
                self._index[key] = len(self._order) - 1
            self._resize()
            self._highlight()
            return True
        if grew:
            self._resize()
            self.refresh()
        else:
            self._refresh_row(key)
        return False

    def put_cell(self, key: str, index: int, value: Cell) -> None:
        """Show ``value`` in cell ``index`` of row ``key`` if it changed (and the row is shown)."""
        row = self._values.get(key)
        if row is not None and row[index] != value:
            self.put(key, (*row[:index], value, *row[index + 1 :]))

    def drop(self, key: str) -> None:
        """Remove row ``key`` if it is shown."""
        self.drop_all([key])

    def drop_all(self, keys: Iterable[str]) -> None:
        """Remove the rows of ``keys`` that are shown; the cursor stays on its row if it can."""
        gone = {key for key in keys if self._values.pop(key, None) is not None}
        if not gone:
            return
        selected = self.selected_key()
        for key in gone:
            self._cells.pop(key, None)
            self._forget_strips(key)
        shown = self._window()
        self._order = [key for key in self._order if key not in gone]
        self._index = None
        if selected is not None and selected not in gone:
            self.cursor_row = self._order.index(selected)
        self.cursor_row = min(self.cursor_row, max(0, len(self._order) - 1))
        self._resize()
        self._refresh_if_moved(shown)
        self._highlight()

    def show_only(self, rows: Iterable[tuple[str, Sequence[Cell]]]) -> None:
        """Make the table hold exactly ``rows``, in the order given."""
        wanted = dict(rows)
        self.drop_all([key for key in self._values if key not in wanted])
        for key, values in wanted.items():
            self.put(key, values)
        self._reorder(list(wanted))

    def order_by(self, sort_key: Callable[[str], Any]) -> None:
        """Order the rows by ``sort_key(row key)``, keeping the cursor on the same row."""
        self._reorder(sorted(self._order, key=sort_key))

    def reposition(self, keys: Iterable[str], rank: Callable[[str], Any]) -> None:
        """Move the rows of ``keys`` to their place in an order already sorted by ``rank``.

        The other rows must be in ``rank`` order: this keeps a sorted table
        sorted after some rows were added or changed, without sorting it all.
        """
        moving = {key for key in keys if key in self._values}
        if not moving:
            return
        order = [key for key in self._order if key not in moving]
        for key in moving:
            bisect.insort(order, key, key=rank)
        self._reorder(order)

    def _reorder(self, order: list[str]) -> None:
        selected = self.selected_key()
        if order == self._order:
            return
        shown = self._window()
        self._order = order
        self._index = None
        if selected is not None:
            self.move_cursor(self._order.index(selected))
        self._refresh_if_moved(shown)

    def _window(self) -> tuple[int, list[str]]:
        """What the view shows: the cursor position and the keys of the visible rows."""
        top = int(self.scroll_offset.y)
        return self.cursor_row, self._order[top : top + self.size.height]

    def _refresh_if_moved(self, shown: tuple[int, list[str]]) -> None:
        """Redraw the view unless the same rows are still on screen, in the same places."""
        if self._window() != shown:
            self.refresh()

    # -- the cursor ------------------------------------------------------------------

    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty table."""
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def move_cursor(self, row: int, *, scroll: bool = True) -> None:
        """Put the cursor on position ``row`` (clamped), scrolling it into view."""
        old = self.cursor_row
        self.cursor_row = max(0, min(row, len(self._order) - 1))
        if scroll:
            self._scroll_to_cursor()
        self._refresh_position(old)
        self._refresh_position(self.cursor_row)
        self._highlight()

    def action_cursor(self, step: int) -> None:
        """Move the cursor ``step`` rows."""
        self.move_cursor(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        """Move the cursor one screen up or down."""
        self.move_cursor(self.cursor_row + direction * max(1, self._visible_rows - 1))

    def action_cursor_to(self, row: int) -> None:
        """Move the cursor to the first (0) or last (-1) row."""
        self.move_cursor(row if row >= 0 else len(self._order) - 1)

    def action_select(self) -> None:
        """Report the row under the cursor as selected."""
        key = self.selected_key()
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        """A click on a row moves the cursor there."""
        if event.y >= 1:
            self.move_cursor(int(self.scroll_offset.y) + event.y - 1, scroll=False)

    @property
    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + self._visible_rows:
            self.scroll_to(
                y=self.cursor_row - self._visible_rows + 1, animate=False, immediate=True
            )

    def _highlight(self) -> None:
        key = self.selected_key()
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, key))

    # -- drawing -----------------------------------------------------------------------

    def _grow(self, cells: Iterable[tuple[int, Cell]]) -> bool:
        """Widen the columns that ``(index, value)`` cells do not fit; True if one grew."""
        grew = False
        widths = self._widths
        for index, value in cells:
            width = _width(value)
            if width > widths[index]:
                widths[index] = width
                grew = True
        return grew

    def _row_cells(self, key: str) -> tuple[Text, ...]:
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells[key] = tuple(_renderable(value) for value in self._values[key])
        return cells

    def _resize(self) -> None:
        """Set the virtual size once, after the current burst of changes."""
        if not self._resize_pending:
            self._resize_pending = True
            self.call_later(self._apply_size)

    def _apply_size(self) -> None:
        self._resize_pending = False
        width = sum(self._widths) + 2 * _PAD * len(self._widths)
        self.virtual_size = Size(width, len(self._order) + 1)

    def _refresh_row(self, key: str) -> None:
        self._refresh_position(self.get_row_index(key))

    def _refresh_position(self, row: int) -> None:
        line = row - int(self.scroll_offset.y)
        if 0 <= line < self.size.height - 1:
            self.refresh_lines(line + 1)

    def _line(self, cells: Iterable[Text], style: Style) -> Strip:
        line = Text(no_wrap=True, end="")
        for cell, width in zip(cells, self._widths, strict=True):
            piece = cell.copy()
            piece.align(piece.justify if piece.justify == "right" else "left", width)
            line.append(" " * _PAD)
            line.append_text(piece)
            line.append(" " * _PAD)
        segments = [Segment(text, style + segment_style if segment_style else style)
                    for text, segment_style, _ in line.render(self.app.console)]  # fmt: skip
        return Strip(Segment.simplify(segments))

    def _forget_strips(self, key: str | None = None) -> None:
        """Drop drawn lines: of row ``key``, or all of them (widths or styles changed)."""
        if key is None or len(self._strips) > _STRIP_CACHE:
            self._strips.clear()
        else:
            for odd in (False, True):
                for cursor in (False, True):
                    self._strips.pop((key, odd, cursor), None)

    def notify_style_update(self) -> None:
        """Styles changed (theme, focus): redraw every line with the new ones."""
        super().notify_style_update()
        self._styles = None
        self._forget_strips()

    def _palette(self) -> tuple[Style, Style, Style, Style]:
        """Base, header, odd-row and cursor styles, read from CSS once per style change."""
        if self._styles is None:
            component = self.get_component_rich_style
            self._styles = (
                self.rich_style,
                component("keyed-table--header"),
                component("keyed-table--odd"),
                component("keyed-table--cursor"),
            )
        return self._styles

    def _style(self, odd: bool, cursor: bool) -> Style:
        base, _, odd_style, cursor_style = self._palette()
        if odd:
            base += odd_style
        if cursor:
            base += cursor_style
        return base

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the view: the header, or the row scrolled there."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        row = int(scroll_y) + y - 1
        if y == 0:
            key, odd, cursor = "", False, False
            base, header, _, _ = self._palette()
            style = base + header
        elif row >= len(self._order):
            return Strip.blank(width, self._style(False, False))
        else:
            key, odd, cursor = self._order[row], bool(row % 2), row == self.cursor_row
            style = self._style(odd, cursor)
        strip = self._strips.get((key, odd, cursor))
        if strip is None:
            cells = self._labels if y == 0 else self._row_cells(key)
            strip = self._strips[key, odd, cursor] = self._line(cells, style)
        return strip.crop_extend(int(scroll_x), int(scroll_x) + width, style)
