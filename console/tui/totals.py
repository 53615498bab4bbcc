"""The header: where the service runs, binds by state, and discards per second."""

from __future__ import annotations

from collections import Counter, deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from console.tui.format import STATE_STYLES
from engine.admin.snapshots import ServiceInfo

__all__ = ["TotalsBar"]

HISTORY = 60
"""Seconds of discard rate the sparkline shows."""


class TotalsBar(Vertical):
    """Two lines: the service's addresses, then live totals with a discards/s sparkline."""

    def __init__(self) -> None:
        """Empty totals; :meth:`show_info` and :meth:`show_totals` fill them in."""
        super().__init__(id="totals")
        self._rates: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)
        self._current = 0
        self._info = Label("fwx console: connecting...", id="service-info")
        self._totals = Label("", id="bind-totals")
        self._sparkline = Sparkline(list(self._rates), id="discards-sparkline")
        self._rate = Label("0", id="discards-rate")

    def compose(self) -> ComposeResult:
        """The info line, then the totals line with its sparkline."""
        yield self._info
        with Horizontal(id="totals-line"):
            yield self._totals
            yield Label("discards/s", id="discards-label")
            yield self._sparkline
            yield self._rate

    def show_info(self, info: ServiceInfo) -> None:
        """Show where the service listens and which rule file it uses."""
        text = Text("fwx ", style="bold")
        text.append(f"SOCKS {info.listen}  external {info.external}  rules {info.rules_path}")
        text.append("  packet filter " + ("on" if info.packet_filtering else "off"))
        self._info.update(text, layout=False)

    def show_totals(self, states: Counter[str], sessions: int) -> None:
        """Show the number of binds in each state and of sessions."""
        text = Text()
        for state in ("pending", "allowed", "terminating"):
            text.append(f"{states.get(state, 0)} ", style="bold")
            text.append(state.upper(), style=STATE_STYLES[state])
            text.append("  ")
        text.append(f"{sessions} session" + ("" if sessions == 1 else "s"), style="bold")
        self._totals.update(text, layout=False)

    def count_discards(self, count: int) -> None:
        """Add ``count`` discards to the current second."""
        self._current += count

    def roll(self) -> None:
        """Close the current second: its count becomes the newest sparkline value."""
        self._rates.append(float(self._current))
        self._sparkline.data = list(self._rates)
        self._rate.update(str(self._current), layout=False)
        self._current = 0
