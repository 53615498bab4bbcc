"""The binds table's columns and rows, shared by the console and ``fwx binds list``.

Textual-free, so the command line can draw the same rows in a Rich table
without loading the console.
"""

from __future__ import annotations

from rich.text import Text

from console.tui.format import age, state_text
from engine.admin.snapshots import BindSnapshot

__all__ = ["COLUMNS", "Cell", "bind_row"]

Cell = str | int | Text
"""What a row holds: text, a number (right-aligned) or styled text."""

COLUMNS = (
    ("id", "id"),
    ("who", "user@client"),
    ("transport", "tr"),
    ("address", "external address"),
    ("state", "state"),
    ("protocol", "protocol"),
    ("flags", "flags"),
    ("filter", "IP filter"),
    ("accepted", "accepted"),
    ("discarded", "discarded"),
    ("age", "age"),
)
_SHORT_FLAGS = {"BIDIRECTIONAL": "bidir", "INCREASE_RECEIVE_BUFFER": "rcvbuf"}


def bind_row(bind: BindSnapshot, now: float) -> tuple[Cell, ...]:
    """The cells of ``bind``'s row."""
    return (
        bind.id,
        bind.who,
        bind.transport,
        bind.address,
        state_text(bind.state),
        bind.protocol_name or ("-" if bind.protocol is None else bind.protocol[:8]),
        ",".join(_SHORT_FLAGS.get(name, name) for name in bind.flag_names) or "-",
        bind.ip_filter_summary,
        bind.accepted,
        bind.discarded_total,
        age(now - bind.created),
    )
