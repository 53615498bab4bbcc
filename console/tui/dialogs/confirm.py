"""A yes/no confirmation for actions that cannot be undone (terminating a bind)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

__all__ = ["ConfirmDialog"]


class ConfirmDialog(ModalScreen[bool]):
    """Asks ``question``; dismisses with True for yes, False for no or escape."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, question: str) -> None:
        """A dialog titled ``title`` asking ``question``."""
        super().__init__()
        self._title = title
        self._question = question

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        with Vertical(classes="dialog") as box:
            box.border_title = self._title
            yield Label(self._question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Yes [y]", id="yes", variant="error")
                yield Button("No [n]", id="no")

    def on_mount(self) -> None:
        """Focus "No": the safe answer is the default."""
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, answer: bool) -> None:
        """Dismiss with ``answer``."""
        self.dismiss(answer)
