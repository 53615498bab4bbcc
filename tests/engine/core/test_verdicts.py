"""Verdicts: fixed reason words, accept/discard, immutability."""

from __future__ import annotations

import dataclasses

import pytest

from engine.core.verdicts import (
    ACCEPT_REASONS,
    DISCARD_REASONS,
    NO_BIND_VERDICT,
    REASONS,
    Verdict,
    VerdictAction,
)


def test_every_reason_is_either_an_accept_or_a_discard_reason() -> None:
    assert set(ACCEPT_REASONS) | set(DISCARD_REASONS) == set(REASONS)
    assert not set(ACCEPT_REASONS) & set(DISCARD_REASONS)
    assert set(REASONS) == {
        "allowed",
        "response",
        "pending",
        "ip-filter",
        "no-bind",
        "terminating",
        "rules",
        "future-connect",
        "bidirectional",
    }


def test_accepted_follows_the_action() -> None:
    assert Verdict(VerdictAction.ACCEPT, "allowed").accepted
    assert not Verdict(VerdictAction.DISCARD, "pending").accepted


def test_r86_traffic_to_no_bind_is_discarded_by_a_shared_constant_verdict() -> None:
    assert NO_BIND_VERDICT.action is VerdictAction.DISCARD
    assert NO_BIND_VERDICT.reason == "no-bind"
    assert NO_BIND_VERDICT.bind is None


def test_verdicts_are_immutable_values() -> None:
    verdict = Verdict(VerdictAction.DISCARD, "rules", None, 'denied by "x"')
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.reason = "allowed"  # type: ignore[misc]
    assert verdict == Verdict(VerdictAction.DISCARD, "rules", None, 'denied by "x"')
    assert "denied" in repr(verdict)
