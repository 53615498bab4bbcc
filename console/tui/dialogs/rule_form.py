"""The form for one protocol rule: name, action, protocols, users, clients, enabled.

Problems are shown as they are typed (the editor checks the whole rule set
with ``rules.validate``); the form does not block on them, so the editor can
show, on save, that the service refuses an invalid set and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from rules.model import Action, ProtocolRule

__all__ = ["RuleForm", "split_list"]


def split_list(text: str) -> tuple[str, ...]:
    """A comma-separated list; blank means ``any``."""
    items = tuple(part.strip() for part in re.split(r",", text) if part.strip())
    return items or ("any",)


class RuleForm(ModalScreen[ProtocolRule | None]):
    """Edits one :class:`ProtocolRule`; None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "OK"),
    ]

    def __init__(
        self,
        rule: ProtocolRule,
        check: Callable[[ProtocolRule], list[str]],
        protocol_names: list[str],
        title: str,
    ) -> None:
        """A form holding ``rule``; ``check`` lists its problems in the rule set."""
        super().__init__()
        self._rule = rule
        self._check = check
        self._protocol_names = protocol_names
        self._title = title

    def compose(self) -> ComposeResult:
        """The fields of a rule."""
        rule = self._rule
        with VerticalScroll(classes="dialog", id="rule-form") as box:
            box.border_title = self._title
            yield Label("Name", classes="field")
            yield Input(rule.name, id="rule-name", compact=True)
            yield Label("Action", classes="field")
            yield Select(
                [("allow", "allow"), ("deny", "deny")],
                value=rule.action.value,
                allow_blank=False,
                id="rule-action",
                compact=True,
            )
            names = ", ".join(self._protocol_names) or "none defined"
            yield Label(
                f"Protocols (comma-separated names or GUIDs, or any; known: {names})",
                classes="field",
            )
            yield Input(", ".join(rule.protocols), id="rule-protocols", compact=True)
            yield Checkbox(
                "all protocols EXCEPT these", rule.except_protocols, id="rule-except", compact=True
            )
            yield Label("Users (names, @group, or any)", classes="field")
            yield Input(", ".join(rule.users), id="rule-users", compact=True)
            yield Label("Clients (client set names, or any)", classes="field")
            yield Input(", ".join(rule.clients), id="rule-clients", compact=True)
            yield Checkbox("enabled", rule.enabled, id="rule-enabled", compact=True)
            yield Label("Description (kept in the rule file)", classes="field")
            yield Input(rule.description, id="rule-description", compact=True)
            yield Label("", id="rule-problems")
            with Horizontal(classes="buttons"):
                yield Button("OK [ctrl+s]", id="ok", variant="success")
                yield Button("Cancel [esc]", id="cancel")

    def on_mount(self) -> None:
        """Focus the name and show the rule's problems, if any."""
        self.query_one("#rule-name", Input).focus()
        self._show_problems()

    @property
    def rule(self) -> ProtocolRule:
        """The rule the form holds now."""
        action = self.query_one("#rule-action", Select).value
        return ProtocolRule(
            name=self.query_one("#rule-name", Input).value.strip(),
            action=Action(action if isinstance(action, str) else "allow"),
            protocols=split_list(self.query_one("#rule-protocols", Input).value),
            users=split_list(self.query_one("#rule-users", Input).value),
            clients=split_list(self.query_one("#rule-clients", Input).value),
            enabled=self.query_one("#rule-enabled", Checkbox).value,
            except_protocols=self.query_one("#rule-except", Checkbox).value,
            description=self.query_one("#rule-description", Input).value.strip(),
        )

    def _show_problems(self) -> None:
        problems = self._check(self.rule)
        label = self.query_one("#rule-problems", Label)
        label.update("\n".join(problems))
        label.set_class(bool(problems), "error")

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self._show_problems()

    @on(Button.Pressed, "#ok")
    def action_submit(self) -> None:
        """Dismiss with the rule."""
        self.dismiss(self.rule)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Dismiss with None."""
        self.dismiss(None)
