"""The Binds screen: a live table with filter-as-you-type, sort orders and a detail pane.

Pending binds come first by default. Snapshots from the control land in the
:class:`BindStore`; the table shows the ones matching the filter and is
updated cell by cell. A re-sort happens only when a change can move a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, Label

from console.tui.bind_detail import BindDetail
from console.tui.format import age
from console.tui.keyed_table import KeyedTable
from console.tui.rows import COLUMNS, bind_row
from console.tui.store import SORTS, BindStore, haystack
from engine.admin.snapshots import BindSnapshot

__all__ = ["BindsView"]

_AGE = len(COLUMNS) - 1
FILTER_DELAY = 0.15
"""Seconds of typing pause before the filter is applied to the table."""


class BindsView(Vertical):
    """Filter line, binds table and the selected bind's detail."""

    def __init__(self, store: BindStore, clock: Callable[[], float]) -> None:
        """A view of ``store``; ``clock`` gives wall-clock seconds for ages."""
        super().__init__(id="binds-view")
        self.store = store
        self._clock = clock
        self.sort = next(iter(SORTS))
        self.filter = Input(placeholder="filter binds: type to narrow (/)", id="binds-filter")
        self.sort_label = Label(f"sort: {self.sort}", id="binds-sort")
        self.table = KeyedTable(COLUMNS, id="binds-table")
        self.detail = BindDetail(id="bind-detail")
        self._pending_filter: Timer | None = None

    def compose(self) -> ComposeResult:
        """Filter input and sort label, the table, the detail pane."""
        with Horizontal(id="binds-bar"):
            yield self.filter
            yield self.sort_label
        yield self.table
        yield self.detail

    @property
    def filter_text(self) -> str:
        """What the operator typed in the filter line."""
        return self.filter.value

    def selected(self) -> BindSnapshot | None:
        """The bind under the cursor, if any."""
        key = self.table.selected_key()
        return None if key is None else self.store.get(int(key))

    def show_all(self) -> None:
        """Rebuild the rows from the store: after a filter change, a re-sort or a full listing."""
        now = self._clock()
        binds = self.store.matching(self.filter_text, self.sort)
        self.table.show_only((str(bind.id), bind_row(bind, now)) for bind in binds)
        self._order()
        self.show_detail()

    def apply(self, changed: Sequence[BindSnapshot], removed: Iterable[int]) -> None:
        """Take a batch of changes: update the rows in place, re-sort only when needed."""
        table = self.table
        needle = self.filter_text.strip().lower()
        now = self._clock()
        for bind_id in removed:
            self.store.remove(bind_id)
        hidden = [str(bind_id) for bind_id in removed]
        moved = []
        for bind in changed:
            old = self.store.put(bind)
            key = str(bind.id)
            if needle and needle not in haystack(bind):
                hidden.append(key)
                continue
            added = table.put(key, bind_row(bind, now))
            if added or self.store.moves_in_sort(old, bind, self.sort):
                moved.append(key)
        table.drop_all(hidden)
        table.reposition(moved, self._rank)
        selected = table.selected_key()
        if selected is not None and (
            int(selected) in {bind.id for bind in changed} or not self.store.get(int(selected))
        ):
            self.show_detail()

    def refresh_ages(self) -> None:
        """Bring the age column of the rows on screen up to date (the others when they show)."""
        now = self._clock()
        table = self.table
        for key in table.visible_keys():
            bind = self.store.get(int(key))
            if bind is not None:
                table.put_cell(key, _AGE, age(now - bind.created))

    def cycle_sort(self) -> str:
        """Switch to the next sort order and return its name."""
        names = list(SORTS)
        self.sort = names[(names.index(self.sort) + 1) % len(names)]
        self.sort_label.update(f"sort: {self.sort}")
        self._order()
        return self.sort

    def show_detail(self) -> None:
        """Describe the selected bind in the detail pane."""
        self.detail.show(self.selected(), self._clock())

    def _rank(self, key: str) -> Any:
        bind = self.store.get(int(key))
        assert bind is not None, "a row is shown only for a bind in the store"
        return SORTS[self.sort](bind)

    def _order(self) -> None:
        order = SORTS[self.sort]
        ranks = {str(bind.id): order(bind) for bind in self.store}
        self.table.order_by(ranks.__getitem__)

    @on(Input.Changed, "#binds-filter")
    def _filter_changed(self) -> None:
        """Apply the filter once typing pauses, so each key echoes at once even with 10,000 rows."""
        if self._pending_filter is not None:
            self._pending_filter.stop()
        self._pending_filter = self.set_timer(FILTER_DELAY, self._apply_filter)

    def _apply_filter(self) -> None:
        self._pending_filter = None
        self.show_all()

    @on(Input.Submitted, "#binds-filter")
    def _filter_done(self) -> None:
        if self._pending_filter is not None:
            self._pending_filter.stop()
            self._apply_filter()
        self.table.focus()

    @on(KeyedTable.RowHighlighted, "#binds-table")
    def _row_highlighted(self) -> None:
        self.show_detail()
