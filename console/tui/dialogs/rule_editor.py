"""The rule editor: add, edit, delete, enable and disable protocol rules, then save live.

The editor works on a copy of the rules in force and checks the whole rule
set with ``rules.validate`` after every change (the answers of ``fwx rules
check``). Saving goes through ``Control.put_rules``: the service validates,
writes the file safely and applies it; when it refuses, nothing changed and
the editor stays open with the reasons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from console.control.interface import Control
from console.tui.dialogs.confirm import ConfirmDialog
from console.tui.dialogs.rule_form import RuleForm
from console.tui.keyed_table import KeyedTable
from console.tui.rows import Cell
from engine.admin.snapshots import Outcome
from rules.model import Action, ProtocolRule, RuleSet
from rules.validate import validate

__all__ = ["RuleEditor"]

COLUMNS = (
    ("index", "#"),
    ("enabled", "on"),
    ("action", "action"),
    ("name", "name"),
    ("protocols", "protocols"),
    ("users", "users"),
    ("clients", "clients"),
)


def _row(index: int, rule: ProtocolRule) -> tuple[Cell, ...]:
    protocols = ", ".join(rule.protocols)
    return (
        index + 1,
        "yes" if rule.enabled else "no",
        rule.action.value,
        rule.name,
        f"all except {protocols}" if rule.except_protocols else protocols,
        ", ".join(rule.users),
        ", ".join(rule.clients),
    )


class RuleEditor(ModalScreen[Outcome | None]):
    """Edits the protocol rules; dismisses with the save's outcome, or None when closed."""

    BINDINGS = [
        Binding("n", "add", "Add"),
        Binding("enter", "edit", "Edit", show=True),
        Binding("d", "delete", "Delete"),
        Binding("space", "toggle_enabled", "Enable/disable"),
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, control: Control, ruleset: RuleSet) -> None:
        """An editor of ``ruleset``'s protocol rules, saving through ``control``."""
        super().__init__()
        self._control = control
        self._ruleset = ruleset
        self.rules: list[ProtocolRule] = list(ruleset.rules)

    def compose(self) -> ComposeResult:
        """The rules table, the problem list and the buttons."""
        with Vertical(classes="dialog wide", id="rule-editor") as box:
            box.border_title = "Edit protocol rules"
            yield Label(
                "n add  enter edit  d delete  space enable/disable  ctrl+s save  esc close",
                classes="hint",
            )
            yield KeyedTable(COLUMNS, id="editor-table")
            yield Label("", id="editor-problems")
            with Horizontal(classes="buttons"):
                yield Button("Save [ctrl+s]", id="save", variant="success")
                yield Button("Close [esc]", id="close")

    def on_mount(self) -> None:
        """Show the rules and focus the table."""
        self._show()
        self.query_one(KeyedTable).focus()

    @property
    def candidate(self) -> RuleSet:
        """The rule set with the edited rules."""
        return dataclasses.replace(self._ruleset, rules=tuple(self.rules))

    @property
    def dirty(self) -> bool:
        """True when the rules differ from those in force."""
        return tuple(self.rules) != self._ruleset.rules

    def problems(self) -> list[str]:
        """Every problem of the edited rule set, as ``fwx rules check`` says them."""
        return [str(problem) for problem in validate(self.candidate)]

    def _show(self, message: str = "") -> None:
        table = self.query_one(KeyedTable)
        table.show_only((str(index), _row(index, rule)) for index, rule in enumerate(self.rules))
        problems = self.problems()
        lines = [message] if message else []
        lines += problems
        label = self.query_one("#editor-problems", Label)
        label.update("\n".join(lines) or ("unsaved changes" if self.dirty else "no changes"))
        label.set_class(bool(problems) or bool(message), "error")

    def _selected(self) -> int | None:
        key = self.query_one(KeyedTable).selected_key()
        return None if key is None else int(key)

    def _check_at(self, index: int) -> Callable[[ProtocolRule], list[str]]:
        def check(rule: ProtocolRule) -> list[str]:
            rules = list(self.rules)
            if index == len(rules):
                rules.append(rule)
            else:
                rules[index] = rule
            ruleset = dataclasses.replace(self._ruleset, rules=tuple(rules))
            prefix = f"rule[{index}]"
            return [
                f"{problem.key.removeprefix(prefix + '.')}: {problem.message}"
                for problem in validate(ruleset)
                if problem.key.startswith(prefix)
            ]

        return check

    def _form(self, index: int, rule: ProtocolRule, title: str) -> RuleForm:
        names = [proto.name for proto in self._ruleset.protocols]
        return RuleForm(rule, self._check_at(index), names, title)

    @work(exclusive=True, group="rule-form")
    async def action_add(self) -> None:
        """Add a rule at the end."""
        index = len(self.rules)
        blank = ProtocolRule(name=f"rule-{index + 1}", action=Action.ALLOW)
        rule = await self.app.push_screen_wait(self._form(index, blank, "New rule"))
        if rule is not None:
            self.rules.append(rule)
            self._show()
            self.query_one(KeyedTable).move_cursor(row=index)

    @work(exclusive=True, group="rule-form")
    async def action_edit(self) -> None:
        """Edit the selected rule."""
        index = self._selected()
        if index is None:
            return
        form = self._form(index, self.rules[index], f"Edit rule {self.rules[index].name}")
        rule = await self.app.push_screen_wait(form)
        if rule is not None:
            self.rules[index] = rule
            self._show()

    @on(KeyedTable.RowSelected, "#editor-table")
    def _row_selected(self) -> None:
        self.action_edit()

    def action_delete(self) -> None:
        """Delete the selected rule (nothing is saved until ctrl+s)."""
        index = self._selected()
        if index is not None:
            del self.rules[index]
            self._show()

    def action_toggle_enabled(self) -> None:
        """Enable or disable the selected rule."""
        index = self._selected()
        if index is not None:
            rule = self.rules[index]
            self.rules[index] = dataclasses.replace(rule, enabled=not rule.enabled)
            self._show()

    @on(Button.Pressed, "#save")
    @work(exclusive=True, group="rule-save")
    async def action_save(self) -> None:
        """Save through the control; stay open with the reasons when refused."""
        outcome = await self._control.put_rules(self.candidate)
        if outcome.ok:
            self.dismiss(outcome)
            return
        reasons = "; ".join(outcome.problems) or outcome.message
        self._show(f"not saved ({outcome.result.label}), nothing changed: {reasons}")

    @on(Button.Pressed, "#close")
    @work(exclusive=True, group="rule-form")
    async def action_close(self) -> None:
        """Close; unsaved changes are dropped after a confirmation."""
        if self.dirty:
            question = "Drop the unsaved rule changes?"
            if not await self.app.push_screen_wait(ConfirmDialog("Unsaved changes", question)):
                return
        self.dismiss(None)
