"""Sessions and client identity (reference §2, R1-R8; §14.2)."""

from __future__ import annotations

import pytest

from engine.core.engine import Engine
from engine.core.events import Event, EventKind
from engine.core.results import HResult
from engine.core.sessions import SessionFlags

from .conftest import FTP, LAN_CLIENT, TCP, UDP, make_bind


def test_r1_every_bind_belongs_to_exactly_one_session(engine: Engine) -> None:
    alice = engine.session(LAN_CLIENT, "alice", authenticated=True)
    anonymous = engine.session(LAN_CLIENT)
    mine = make_bind(engine, alice)
    theirs = make_bind(engine, anonymous, port=40001)
    assert mine.session is alice
    assert theirs.session is anonymous
    assert list(alice.binds.values()) == [mine]
    assert list(anonymous.binds.values()) == [theirs]


def test_r2_widened_one_session_per_user_and_ip_shared_by_its_connections(
    engine: Engine,
) -> None:
    """R2 (widened by §14.2): the same user from the same IP is one session, so FTP's
    control and data connections find each other; another user is another session."""
    first = engine.session(LAN_CLIENT, "alice", authenticated=True)
    again = engine.session(LAN_CLIENT, "alice", authenticated=True)
    other = engine.session(LAN_CLIENT, "bob", authenticated=True)
    assert first is again
    assert other is not first
    assert engine.sessions() == [first, other]


def test_r3_an_anonymous_client_is_one_session_per_ip(engine: Engine) -> None:
    assert engine.session("10.0.0.5") is engine.session("10.0.0.5")
    assert engine.session("10.0.0.5") is not engine.session("10.0.0.6")


def test_r4_find_or_create_ignores_the_spelling_of_the_address(engine: Engine) -> None:
    session = engine.session("10.0.0.5")
    assert engine.session("::ffff:10.0.0.5") is session
    v6 = engine.session("2001:DB8::5")
    assert engine.session("2001:db8::5") is v6
    assert v6.client == "2001:db8::5"


def test_r4_a_bad_client_address_is_an_error_of_the_caller(engine: Engine) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        engine.session("client.example")


def test_r5_client_address_has_port_zero(engine: Engine) -> None:
    assert engine.session(LAN_CLIENT).client_address() == (LAN_CLIENT, 0)


def test_r6_an_anonymous_session_cannot_use_a_user_scoped_protocol(engine: Engine) -> None:
    """R6: rules naming users or groups never match a session without a user."""
    anonymous = engine.session("192.0.2.50")
    alice = engine.session("192.0.2.50", "alice", authenticated=True)
    result, bind = engine.bind(anonymous, TCP, ("198.51.100.1", 8443))
    assert result is HResult.S_OK
    assert bind is not None
    assert bind.state.value == "pending"
    result, staff_bind = engine.bind(alice, TCP, ("198.51.100.2", 8443))
    assert staff_bind is not None
    assert staff_bind.state.value == "allowed"


def test_r7_flags_report_nat_authenticated_private_and_terminated(engine: Engine) -> None:
    nat = engine.session(LAN_CLIENT)
    user = engine.session(LAN_CLIENT, "alice", authenticated=True)
    private = engine.session("10.0.0.9", "carol", private=True)
    assert nat.flags == SessionFlags.NAT
    assert user.flags == SessionFlags.AUTHENTICATED
    assert private.flags == SessionFlags.PRIVATE
    engine.end_session(user)
    assert user.flags == SessionFlags.AUTHENTICATED | SessionFlags.TERMINATED
    assert user.terminated
    assert not nat.terminated


def test_r7_flag_values_are_fixed() -> None:
    assert [int(flag) for flag in SessionFlags] == [0x1, 0x2, 0x4, 0x8]


def test_r7_ending_a_session_closes_its_binds_and_forgets_it(engine: Engine) -> None:
    events = engine.subscribe()
    session = engine.session(LAN_CLIENT)
    tcp = make_bind(engine, session)
    udp = make_bind(engine, session, UDP)
    engine.end_session(session)
    assert tcp.state.value == udp.state.value == "closed"
    assert session.binds == {}
    assert engine.binds() == []
    kinds = [event.kind for event in events.drain() if isinstance(event, Event)]
    assert kinds.count(EventKind.BIND_TERMINATING) == 2
    assert kinds.count(EventKind.BIND_CLOSED) == 2
    assert kinds[-1] is EventKind.SESSION_ENDED
    engine.end_session(session)
    assert events.drain() == []
    assert engine.session(LAN_CLIENT) is not session


def test_r8_a_terminated_session_answers_terminating_and_creates_nothing(engine: Engine) -> None:
    session = engine.session(LAN_CLIENT)
    bind = make_bind(engine, session)
    engine.end_session(session)
    assert engine.bind(session, TCP, ("198.51.100.1", 40001)) == (HResult.FWX_E_TERMINATING, None)
    assert (
        engine.retroactive_allow_bind(session, 6, bind.address, None, FTP.guid, 0, None)
        is HResult.FWX_E_TERMINATING
    )
    assert engine.bind_for_client(
        session, TCP, [("10.0.0.5", 20)], ("198.51.100.1", 0), FTP.guid, 0, None, actor="t"
    ) == (HResult.FWX_E_TERMINATING, None)
    assert (
        engine.allow_future_connect(session, ("192.0.2.10", 2000), TCP, FTP.guid, actor="t")
        is HResult.FWX_E_TERMINATING
    )
    verdict = engine.connect(session, ("192.0.2.10", 21))
    assert (verdict.accepted, verdict.reason) == (False, "terminating")
    assert engine.binds() == []
