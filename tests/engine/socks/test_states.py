"""The SOCKS5 connection state table: legal moves, dead ends and reachability."""

from __future__ import annotations

import pytest

from engine.socks.states import (
    RECEIVING_STATES,
    TRANSITIONS,
    LocalProtocolError,
    State,
    Trigger,
    next_state,
)


def reachable_from(start: State) -> set[State]:
    """Every state the table can lead to from ``start``."""
    seen = {start}
    frontier = [start]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def test_every_state_is_reachable_from_greeting() -> None:
    assert reachable_from(State.GREETING) == set(State)


def test_closed_is_a_dead_end() -> None:
    assert all(source is not State.CLOSED for source, _ in TRANSITIONS)


def test_a_protocol_error_closes_every_open_state() -> None:
    for state in State:
        if state is not State.CLOSED:
            assert next_state(state, Trigger.PROTOCOL_ERROR) is State.CLOSED


def test_relaying_is_reached_only_by_a_success_reply() -> None:
    into_relaying = {
        trigger for (_, trigger), target in TRANSITIONS.items() if target is State.RELAYING
    }
    assert into_relaying == {Trigger.REPLY_SUCCEEDED, Trigger.PEER_CONNECTED}


def test_receiving_states_are_left_only_by_their_message_or_an_error() -> None:
    for state in RECEIVING_STATES:
        triggers = {trigger for source, trigger in TRANSITIONS if source is state}
        assert len(triggers - {Trigger.PROTOCOL_ERROR}) == 1


def test_an_illegal_move_raises_and_names_the_state() -> None:
    with pytest.raises(LocalProtocolError, match="not allowed in state GREETING"):
        next_state(State.GREETING, Trigger.REPLY_SUCCEEDED)


@pytest.mark.parametrize("trigger", list(Trigger))
def test_closed_accepts_no_trigger(trigger: Trigger) -> None:
    with pytest.raises(LocalProtocolError):
        next_state(State.CLOSED, trigger)
