"""What a rules reload changed: :class:`RulesChange`, the answer of ``Engine.replace_rules``.

Protocols are matched by GUID and protocol rules by name. ``would_differ``
lists the pending binds whose bind-time decision (R11) would now allow them;
the reload itself never changes a live bind (R85): the operator decides,
with ``Engine.recheck``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from rules.model import RuleSet

__all__ = ["RulesChange", "diff_rules"]

_Key = TypeVar("_Key", bound=Hashable)
_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True)
class RulesChange:
    """The difference between the rules that were in force and the new ones."""

    protocols_added: list[str] = field(default_factory=list)
    protocols_removed: list[str] = field(default_factory=list)
    protocols_changed: list[str] = field(default_factory=list)
    rules_added: list[str] = field(default_factory=list)
    rules_removed: list[str] = field(default_factory=list)
    rules_changed: list[str] = field(default_factory=list)
    service_changed: bool = False
    other_changed: bool = False
    """IP filter sets, client sets or users changed."""
    would_differ: list[int] = field(default_factory=list)
    """Ids of pending binds whose bind-time decision would now be "allowed"."""

    @property
    def changed(self) -> bool:
        """True when the new rules differ from the old ones in any way."""
        return bool(
            self.protocols_added
            or self.protocols_removed
            or self.protocols_changed
            or self.rules_added
            or self.rules_removed
            or self.rules_changed
            or self.service_changed
            or self.other_changed
        )

    def summary(self) -> str:
        """One line for people: what changed, and which pending binds it concerns."""
        parts = [
            _count(len(self.protocols_added), "protocol", "added"),
            _count(len(self.protocols_removed), "protocol", "removed"),
            _count(len(self.protocols_changed), "protocol", "changed"),
            _count(len(self.rules_added), "rule", "added"),
            _count(len(self.rules_removed), "rule", "removed"),
            _count(len(self.rules_changed), "rule", "changed"),
            "service settings changed" if self.service_changed else "",
            "address sets or users changed" if self.other_changed else "",
        ]
        text = ", ".join(part for part in parts if part) or "no change"
        if self.would_differ:
            text += f"; {_count(len(self.would_differ), 'pending bind', 'would now be allowed')}"
        return text


def _count(number: int, noun: str, verb: str) -> str:
    if not number:
        return ""
    return f"{number} {noun}{'' if number == 1 else 's'} {verb}"


def _compare(
    old: Mapping[_Key, _Item], new: Mapping[_Key, _Item], label: Mapping[_Key, str]
) -> tuple[list[str], list[str], list[str]]:
    """Labels of the keys only in ``new``, only in ``old``, and in both with another value."""
    added = [label[key] for key in new if key not in old]
    removed = [label[key] for key in old if key not in new]
    changed = [label[key] for key in new if key in old and old[key] != new[key]]
    return added, removed, changed


def diff_rules(old: RuleSet, new: RuleSet, would_differ: list[int]) -> RulesChange:
    """What changed from ``old`` to ``new``, with the given ``would_differ`` bind ids."""
    old_protocols = {proto.guid: proto for proto in old.protocols}
    new_protocols = {proto.guid: proto for proto in new.protocols}
    names = {proto.guid: proto.name for proto in (*old.protocols, *new.protocols)}
    protocols = _compare(old_protocols, new_protocols, names)
    old_rules = {rule.name: rule for rule in old.rules}
    new_rules = {rule.name: rule for rule in new.rules}
    rules = _compare(old_rules, new_rules, {name: name for name in (*old_rules, *new_rules)})
    return RulesChange(
        *protocols,
        *rules,
        service_changed=old.service != new.service,
        other_changed=(old.ip_filters, old.client_sets, old.users)
        != (new.ip_filters, new.client_sets, new.users),
        would_differ=would_differ,
    )
