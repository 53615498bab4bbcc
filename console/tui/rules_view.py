"""The Rules screen: protocol rules in evaluation order, each with its decision role."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from console.tui.keyed_table import KeyedTable
from console.tui.rows import Cell
from engine.admin.snapshots import RuleSnapshot

__all__ = ["RulesView"]

COLUMNS = (
    ("order", "#"),
    ("name", "name"),
    ("action", "action"),
    ("role", "decision role"),
    ("protocols", "protocols"),
    ("users", "users"),
    ("clients", "clients"),
)
_ACTION_STYLES = {"allow": "green", "deny": "red"}


def rule_row(order: int, rule: RuleSnapshot) -> tuple[Cell, ...]:
    """The cells of ``rule``'s row; ``order`` is its place in evaluation, from 1."""
    protocols = ", ".join(rule.protocols)
    if rule.except_protocols:
        protocols = f"all except {protocols}"
    action = Text(rule.action.upper(), style=_ACTION_STYLES[rule.action] if rule.enabled else "dim")
    return (
        order,
        rule.name,
        action,
        rule.role,
        protocols,
        ", ".join(rule.users),
        ", ".join(rule.clients),
    )


class RulesView(KeyedTable):
    """The protocol rules; edit them with the rule editor (``e``)."""

    def __init__(self) -> None:
        """An empty rules table."""
        super().__init__(COLUMNS, id="rules-table")

    def show(self, rules: Iterable[RuleSnapshot]) -> None:
        """Show exactly ``rules``, in the order given."""
        rows = [(str(order), rule_row(order, rule)) for order, rule in enumerate(rules, 1)]
        self.show_only(rows)
