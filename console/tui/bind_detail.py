"""The detail pane of the selected bind: full IP filter, discards by reason, recent discards."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.tui.format import age, clock_time, state_text
from engine.admin.snapshots import BindSnapshot

__all__ = ["BindDetail", "describe"]


def _line(text: Text, label: str, value: str | Text) -> None:
    text.append(f"{label:<11}", style="bold")
    text.append(value)
    text.append("\n")


def describe(bind: BindSnapshot, now: float) -> Text:
    """Everything the console knows about ``bind``, as lines of text."""
    text = Text()
    heading = Text(f"Bind {bind.id}  {bind.transport} {bind.address}  ")
    heading.append_text(state_text(bind.state))
    heading.append(f"  age {age(now - bind.created)}")
    _line(text, "", heading)
    _line(text, "Session", f"{bind.session_id}  {bind.who}")
    if bind.protocol is None:
        _line(text, "Protocol", "none yet (pending approval)")
    else:
        _line(text, "Protocol", f"{bind.protocol_name or 'unknown'}  {{{bind.protocol}}}")
    _line(text, "Flags", ", ".join(bind.flag_names) or "none")
    if bind.ip_filter is None:
        _line(text, "IP filter", "none: any remote address")
    elif not bind.ip_filter:
        _line(text, "IP filter", "block all: no remote address")
    else:
        _line(text, "IP filter", ", ".join(bind.ip_filter))
    if bind.allowed_by is not None and bind.allowed_at is not None:
        _line(text, "Allowed", f"by {bind.allowed_by} at {clock_time(bind.allowed_at)}")
    counts = ", ".join(f"{reason} {count}" for reason, count in bind.discarded) or "none"
    _line(text, "Traffic", f"accepted {bind.accepted}; discarded {counts}")
    if bind.recent:
        text.append("Recent discards\n", style="bold")
        for item in reversed(bind.recent):
            text.append(f"  {clock_time(item.time)}  {item.remote:<22} {item.reason}\n")
    return text


NOTHING_SELECTED = "No bind selected. Binds appear here as SOCKS clients BIND or UDP ASSOCIATE."


class BindDetail(Static):
    """Shows :func:`describe` of one bind, or a hint when none is selected."""

    _shown: Text | None = None

    def show(self, bind: BindSnapshot | None, now: float) -> None:
        """Describe ``bind`` (None: nothing selected); the same text is not redrawn."""
        text = Text(NOTHING_SELECTED) if bind is None else describe(bind, now)
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)
