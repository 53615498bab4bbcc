"""RuleContext: the protocol-rule questions of the engine (R11, R25, R76, R84)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.core.decisions import RuleContext
from engine.core.registry import ProtocolRegistry
from engine.core.sessions import Session, SessionFlags
from rules.model import Action, ProtocolRule

from .conftest import ADMIN, DNS, FILTER_ONLY, FTP, GAME, RULES, TCP, UDP


def session(client: str = "10.0.0.5", user: str | None = None, number: int = 1) -> Session:
    flags = SessionFlags.NAT if user is None else SessionFlags.AUTHENTICATED
    return Session(number, client, user, flags, 0.0)


@pytest.fixture
def context() -> RuleContext:
    return RuleContext(RULES, ProtocolRegistry(RULES.protocols))


def test_r84_the_check_is_the_protocol_rule_test_on_the_session_identity(
    context: RuleContext,
) -> None:
    allowed = context.decide(session(), FTP.guid)
    assert allowed.allowed
    assert allowed.protocol is FTP
    assert allowed.text == 'allowed by "lan may use everything but Admin"'
    outside = context.decide(session("192.0.2.50"), FTP.guid)
    assert not outside.allowed
    assert outside.text == "no allow rule"


def test_r84_user_and_group_rules_apply_to_authenticated_users(context: RuleContext) -> None:
    assert not context.decide(session("192.0.2.50"), ADMIN.guid).allowed
    assert context.decide(session("192.0.2.50", "alice"), ADMIN.guid).allowed
    bob = context.decide(session("10.0.0.5", "bob"), GAME.guid)
    assert not bob.allowed
    assert bob.rule == "no games for bob"


def test_r76_an_unknown_guid_is_refused_before_the_rules(context: RuleContext) -> None:
    answer = context.decide(session(), FILTER_ONLY.guid)
    assert not answer.allowed
    assert answer.protocol is None
    assert "not registered" in answer.text
    assert not context.decide(session(), None).allowed
    context.registry.register(FILTER_ONLY)
    assert context.decide(session(), FILTER_ONLY.guid).allowed


def test_r11_bind_time_needs_a_recognising_protocol(context: RuleContext) -> None:
    assert context.at_bind_time(session(), TCP, 40000) is None
    answer = context.at_bind_time(session(), TCP, 7777)
    assert answer is not None
    assert answer.allowed
    assert answer.protocol is GAME
    refused = context.at_bind_time(session("10.0.0.5", "bob"), TCP, 7777)
    assert refused is not None
    assert not refused.allowed


def test_outbound_answers_are_remembered_until_the_rules_change(context: RuleContext) -> None:
    lan = session()
    first = context.outbound(lan, UDP, 53)
    assert first is not None
    assert first.allowed
    assert first.protocol is DNS
    assert context.outbound(lan, UDP, 53) is first
    assert context.outbound(lan, UDP, 54) is None
    deny_dns = ProtocolRule("no dns", Action.DENY, protocols=("DNS",))
    context.replace(replace(RULES, rules=(*RULES.rules, deny_dns)))
    again = context.outbound(lan, UDP, 53)
    assert again is not None
    assert not again.allowed
    assert again.rule == "no dns"


def test_forget_drops_remembered_answers(context: RuleContext) -> None:
    lan = session()
    assert context.outbound(lan, TCP, 9000) is None
    context.registry.register(FILTER_ONLY)
    assert context.outbound(lan, TCP, 9000) is None
    context.forget()
    answer = context.outbound(lan, TCP, 9000)
    assert answer is not None
    assert answer.allowed
