"""RulesChange: what a reload changed (protocols by GUID, rules by name)."""

from __future__ import annotations

from dataclasses import replace

from engine.core.changes import RulesChange, diff_rules
from rules.model import Action, ProtocolRule

from .conftest import FILTER_ONLY, FTP, HTTP, RULES, ruleset


def test_identical_rules_change_nothing() -> None:
    change = diff_rules(RULES, RULES, [])
    assert not change.changed
    assert change.summary() == "no change"


def test_protocols_are_matched_by_guid_and_rules_by_name() -> None:
    renamed_http = replace(HTTP, name="Web")
    protocols = tuple(p for p in RULES.protocols if p not in (FTP, HTTP))
    new = replace(
        RULES,
        protocols=(*protocols, renamed_http, FILTER_ONLY),
        rules=(
            replace(RULES.rules[0], enabled=False),
            *RULES.rules[2:],
            ProtocolRule("new", Action.ALLOW),
        ),
    )
    change = diff_rules(RULES, new, [4])
    assert change.protocols_added == ["Filter protocol"]
    assert change.protocols_removed == ["FTP"]
    assert change.protocols_changed == ["Web"]
    assert change.rules_added == ["new"]
    assert change.rules_removed == ["no games for bob"]
    assert change.rules_changed == ["lan may use everything but Admin"]
    assert change.would_differ == [4]
    assert change.summary() == (
        "1 protocol added, 1 protocol removed, 1 protocol changed, 1 rule added, "
        "1 rule removed, 1 rule changed; 1 pending bind would now be allowed"
    )


def test_service_and_other_sections_are_reported_as_changed() -> None:
    change = diff_rules(RULES, ruleset(pending_bind_timeout=5.0), [])
    assert change.service_changed
    assert change.changed
    other = diff_rules(RULES, replace(RULES, users=()), [])
    assert other.other_changed
    assert not other.service_changed
    assert "users changed" in other.summary()


def test_a_change_is_a_value() -> None:
    assert (
        RulesChange(would_differ=[1, 2]).summary()
        == "no change; 2 pending binds would now be allowed"
    )
