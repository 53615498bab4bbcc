"""Protocol-rule evaluation (ISA 2000, reference R77-R83), checked against a brute-force model."""

from __future__ import annotations

import dataclasses
import random
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.addresses import AddressRanges, address_key
from rules.model import (
    Action,
    ClientSet,
    Direction,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    Transport,
    User,
)
from rules.policy import NO_ALLOW_RULE, Decision, Policy
from rules.validate import validate


def protocol(name: str, port: int) -> ProtocolDefinition:
    guid = uuid.UUID(int=port)
    return ProtocolDefinition(
        guid, name, PrimaryConnection(port, Transport.TCP, Direction.OUTBOUND)
    )


FTP, HTTP, GAME = protocol("FTP", 21), protocol("HTTP", 80), protocol("Game", 7777)
UNREGISTERED = uuid.UUID(int=9999)
LAN = address_key("10.1.2.3")
GUEST_NET = address_key("10.9.0.5")
OUTSIDE = address_key("192.0.2.1")
V6_CLIENT = address_key("2001:db8::5")
BASE = RuleSet(
    protocols=(FTP, HTTP, GAME),
    client_sets=(
        ClientSet("lan", ("10.0.0.0/8", "2001:db8::/32"), ("10.9.0.0/16",)),
        ClientSet("guests", ("10.9.0.0/16",)),
    ),
    users=(User("alice", ("staff",)), User("bob", ("staff", "ftp")), User("carol")),
)


def compile_rules(*rules: ProtocolRule) -> Policy:
    ruleset = dataclasses.replace(BASE, rules=rules)
    assert validate(ruleset) == []
    return Policy.compile(ruleset)


def allow(name: str, protocols: tuple[str, ...] = ("any",), **fields: Any) -> ProtocolRule:
    return ProtocolRule(name, Action.ALLOW, protocols, **fields)


def deny(name: str, protocols: tuple[str, ...] = ("any",), **fields: Any) -> ProtocolRule:
    return ProtocolRule(name, Action.DENY, protocols, **fields)


def test_decisions_read_as_the_console_shows_them() -> None:
    assert str(Decision(True, "staff ftp")) == 'allowed by "staff ftp"'
    assert str(Decision(False, "no games")) == 'denied by "no games"'
    assert str(NO_ALLOW_RULE) == "no allow rule"


def test_r78_no_rules_denies_everything() -> None:
    policy = compile_rules()
    assert policy.check(FTP.guid, "alice", LAN) is NO_ALLOW_RULE
    assert policy.check(UNREGISTERED, None, OUTSIDE) is NO_ALLOW_RULE


def test_r77_an_allow_rule_allows_and_names_itself() -> None:
    policy = compile_rules(allow("staff ftp", ("FTP",)))
    decision = policy.check(FTP.guid, "alice", LAN)
    assert decision == Decision(True, "staff ftp")
    assert policy.check(HTTP.guid, "alice", LAN) is NO_ALLOW_RULE


def test_r77_deny_wins_over_allow() -> None:
    policy = compile_rules(allow("all"), deny("no games", ("Game",)))
    assert policy.check(GAME.guid, "alice", LAN) == Decision(False, "no games")
    assert policy.check(FTP.guid, "alice", LAN) == Decision(True, "all")


def test_r77_disabled_rules_never_apply() -> None:
    policy = compile_rules(allow("all"), deny("no games", ("Game",), enabled=False))
    assert policy.check(GAME.guid, "alice", LAN).allowed
    assert compile_rules(allow("off", enabled=False)).check(FTP.guid, "alice", LAN) is NO_ALLOW_RULE


def test_r79_rules_apply_always_schedules_are_not_modelled() -> None:
    """R79: every rule is AppliesAlways; the same check gives the same answer every time."""
    policy = compile_rules(allow("all"))
    assert {policy.check(FTP.guid, None, LAN) for _ in range(3)} == {Decision(True, "all")}


def test_r80_client_sets_limit_a_rule_with_their_exclusions() -> None:
    policy = compile_rules(allow("lan only", clients=("lan",)))
    assert policy.check(FTP.guid, "alice", LAN).allowed
    assert policy.check(FTP.guid, "alice", V6_CLIENT).allowed
    assert not policy.check(FTP.guid, "alice", GUEST_NET).allowed  # excluded from lan
    assert not policy.check(FTP.guid, "alice", OUTSIDE).allowed


def test_r80_users_and_groups_limit_a_rule() -> None:
    policy = compile_rules(
        allow("ftp group", ("FTP",), users=("@ftp",)), allow("carol", users=("carol",))
    )
    assert policy.check(FTP.guid, "bob", LAN) == Decision(True, "ftp group")
    assert policy.check(FTP.guid, "alice", LAN) is NO_ALLOW_RULE
    assert policy.check(HTTP.guid, "carol", LAN) == Decision(True, "carol")


def test_r81_user_rules_never_apply_to_anonymous_sessions() -> None:
    policy = compile_rules(allow("staff", users=("@staff",)))
    assert policy.check(FTP.guid, None, LAN) is NO_ALLOW_RULE


def test_r81_a_user_scoped_deny_does_not_stop_anonymous_sessions() -> None:
    policy = compile_rules(allow("everyone"), deny("not alice", users=("alice",)))
    assert policy.check(FTP.guid, None, LAN) == Decision(True, "everyone")
    assert policy.check(FTP.guid, "alice", LAN) == Decision(False, "not alice")


def test_r80_any_user_includes_anonymous_and_unknown_users() -> None:
    policy = compile_rules(allow("everyone", ("HTTP",)))
    assert policy.check(HTTP.guid, None, OUTSIDE).allowed
    assert policy.check(HTTP.guid, "mallory", OUTSIDE).allowed


def test_r82_protocol_selection_any_selected_and_all_except() -> None:
    policy = compile_rules(
        allow("any protocol", users=("alice",)),
        allow("only ftp", ("FTP",), users=("bob",)),
        allow("all but games", ("Game",), users=("carol",), except_protocols=True),
    )
    for guid in (FTP.guid, HTTP.guid, GAME.guid, UNREGISTERED):
        assert policy.check(guid, "alice", LAN).allowed
    assert [policy.check(g, "bob", LAN).allowed for g in (FTP.guid, HTTP.guid, UNREGISTERED)] == [
        True,
        False,
        False,
    ]
    assert [policy.check(g, "carol", LAN).allowed for g in (FTP.guid, GAME.guid, UNREGISTERED)] == [
        True,
        False,
        True,
    ]


def test_r82_protocols_may_be_named_by_guid() -> None:
    policy = compile_rules(allow("by guid", ("{" + str(FTP.guid).upper() + "}",)))
    assert policy.check(FTP.guid, None, LAN).allowed


def test_the_first_rule_in_file_order_is_named() -> None:
    policy = compile_rules(allow("b"), allow("a"), deny("d2", ("FTP",)), deny("d1", ("FTP",)))
    assert policy.check(HTTP.guid, None, LAN) == Decision(True, "b")
    assert policy.check(FTP.guid, None, LAN) == Decision(False, "d2")


def test_a_check_allocates_no_decision() -> None:
    policy = compile_rules(allow("lan", clients=("lan",)))
    assert policy.check(FTP.guid, "alice", LAN) is policy.check(FTP.guid, "alice", LAN + 1)


class Reference:
    """A brute-force reading of R77-R82, to compare the compiled index with."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.names = {p.name: p.guid for p in ruleset.protocols}
        self.groups = {u.name: {f"@{g}" for g in u.groups} for u in ruleset.users}
        self.sets = {
            c.name: AddressRanges.from_specs(c.addresses, c.exclude) for c in ruleset.client_sets
        }

    def applies(self, rule: ProtocolRule, guid: uuid.UUID, user: str | None, client: int) -> bool:
        if rule.protocols == ("any",):
            protocol_ok = True
        else:
            protocol_ok = (guid in {self.names[p] for p in rule.protocols}) != rule.except_protocols
        principals = {"any"} if user is None else {"any", user} | self.groups.get(user, set())
        user_ok = bool(principals & set(rule.users))
        client_ok = rule.clients == ("any",) or any(client in self.sets[c] for c in rule.clients)
        return rule.enabled and protocol_ok and user_ok and client_ok

    def check(self, guid: uuid.UUID, user: str | None, client: int) -> Decision:
        applying = [r for r in self.ruleset.rules if self.applies(r, guid, user, client)]
        for action in (Action.DENY, Action.ALLOW):
            for rule in applying:
                if rule.action is action:
                    return Decision(action is Action.ALLOW, rule.name)
        return NO_ALLOW_RULE


PROTOCOL_CHOICES = st.one_of(
    st.just(("any",)),
    st.lists(st.sampled_from(["FTP", "HTTP", "Game"]), min_size=1, max_size=2, unique=True).map(
        tuple
    ),
)
USER_CHOICES = st.one_of(
    st.just(("any",)),
    st.lists(
        st.sampled_from(["alice", "bob", "carol", "@staff", "@ftp"]),
        min_size=1,
        max_size=3,
        unique=True,
    ).map(tuple),
)
CLIENT_CHOICES = st.one_of(
    st.just(("any",)),
    st.lists(st.sampled_from(["lan", "guests"]), min_size=1, max_size=2, unique=True).map(tuple),
)


@st.composite
def rule_lists(draw: st.DrawFn) -> list[ProtocolRule]:
    rules = []
    for index in range(draw(st.integers(min_value=0, max_value=6))):
        protocols = draw(PROTOCOL_CHOICES)
        rules.append(
            ProtocolRule(
                name=f"rule {index}",
                action=draw(st.sampled_from(Action)),
                protocols=protocols,
                users=draw(USER_CHOICES),
                clients=draw(CLIENT_CHOICES),
                enabled=draw(st.booleans()),
                except_protocols=protocols != ("any",) and draw(st.booleans()),
            )
        )
    return rules


CHECKS = [
    (guid, user, client)
    for guid in (FTP.guid, HTTP.guid, GAME.guid, UNREGISTERED)
    for user in (None, "alice", "bob", "carol", "mallory")
    for client in (LAN, GUEST_NET, OUTSIDE, V6_CLIENT)
]


@settings(max_examples=100, deadline=None)
@given(rule_lists())
def test_r77_to_r82_compiled_policy_matches_the_brute_force_reading(
    rules: list[ProtocolRule],
) -> None:
    ruleset = dataclasses.replace(BASE, rules=tuple(rules))
    policy, reference = Policy.compile(ruleset), Reference(ruleset)
    for guid, user, client in CHECKS:
        assert policy.check(guid, user, client) == reference.check(guid, user, client)


@settings(max_examples=50, deadline=None)
@given(rule_lists(), st.randoms(use_true_random=False))
def test_r83_rule_order_does_not_change_the_outcome(
    rules: list[ProtocolRule], rng: random.Random
) -> None:
    shuffled = list(rules)
    rng.shuffle(shuffled)
    first = Policy.compile(dataclasses.replace(BASE, rules=tuple(rules)))
    second = Policy.compile(dataclasses.replace(BASE, rules=tuple(shuffled)))
    for guid, user, client in CHECKS:
        assert first.check(guid, user, client).allowed == second.check(guid, user, client).allowed


@pytest.mark.parametrize("user", [None, "alice"])
def test_cells_built_on_first_use_answer_like_compiled_ones(user: str | None) -> None:
    policy = compile_rules(allow("lan", clients=("lan",)), deny("guests", clients=("guests",)))
    assert policy.check(FTP.guid, user, GUEST_NET) == Decision(False, "guests")
    assert policy.check(FTP.guid, user, LAN) == Decision(True, "lan")
