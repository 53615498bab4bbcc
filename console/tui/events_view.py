"""The Events screen: a scrolling, filterable log of what the engine did.

Events are kept in a bounded buffer; the log is written only while the
screen is shown (and rebuilt from the buffer when it comes back or the
filter changes), so a flood of events costs nothing on other screens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, RichLog

from console.tui.format import clock_time
from engine.admin.snapshots import EventSnapshot

__all__ = ["EventsView", "event_line"]

KEEP = 5000
"""Events the buffer holds for re-filtering."""
SHOWN = 1000
"""Lines the log holds."""

_KIND_STYLES = {
    "bind-allowed": "green",
    "inbound-accepted": "green",
    "allow-refused": "red",
    "bind-terminating": "red",
    "bind-closed": "dim",
    "bind-expired": "yellow",
    "discard-summary": "yellow",
    "rules-replaced": "cyan",
    "protocol-registered": "cyan",
}


def event_line(event: EventSnapshot) -> Text:
    """One log line: time, sequence number, kind, bind and session, detail."""
    line = Text(f"{clock_time(event.time)} #{event.seq:<6} ")
    line.append(f"{event.kind:<18}", style=_KIND_STYLES.get(event.kind, ""))
    if event.bind_id is not None:
        line.append(f" bind={event.bind_id}")
    if event.session_id is not None:
        line.append(f" session={event.session_id}")
    if event.detail:
        line.append(f" {event.text}")
    return line


class EventsView(Vertical):
    """Filter line and the event log."""

    def __init__(self) -> None:
        """An empty log."""
        super().__init__(id="events-view")
        self._events: deque[EventSnapshot] = deque(maxlen=KEEP)
        self._live = False
        self._stale = False
        self._filter = Input(placeholder="filter events: type to narrow", id="events-filter")
        self._log = RichLog(max_lines=SHOWN, wrap=True, id="events-log")

    def compose(self) -> ComposeResult:
        """Filter input and log."""
        yield self._filter
        yield self._log

    def add(self, events: Sequence[EventSnapshot]) -> None:
        """Record ``events``; write the matching ones if the log is shown."""
        self._events.extend(events)
        if not self._live:
            self._stale = True
            return
        needle = self._needle()
        for event in events:
            line = event_line(event)
            if needle in line.plain.lower():
                self._log.write(line)

    def set_live(self, live: bool) -> None:
        """Start (True) or stop writing the log; coming back rebuilds it if events arrived."""
        self._live = live
        if live and self._stale:
            self._rebuild()

    def _needle(self) -> str:
        return self._filter.value.strip().lower()

    def _rebuild(self) -> None:
        needle = self._needle()
        log = self._log
        log.clear()
        lines = [line for line in map(event_line, self._events) if needle in line.plain.lower()]
        for line in lines[-SHOWN:]:
            log.write(line)
        self._stale = False

    @on(Input.Changed, "#events-filter")
    def _filter_changed(self) -> None:
        self._rebuild()
