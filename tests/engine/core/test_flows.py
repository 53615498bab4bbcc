"""FlowBook (UDP peers and recent senders) and FutureConnects (R46-R48)."""

from __future__ import annotations

import uuid

import pytest

from engine.core.binds import Bind, BindState
from engine.core.flows import (
    FUTURE_CONNECT_TIMEOUT,
    MAX_FLOWS_PER_BIND,
    FlowBook,
    FutureConnects,
    FutureFlags,
    Permission,
)
from engine.core.results import Transport
from engine.core.sessions import Session, SessionFlags

REMOTE = ("203.0.113.7", 53)
TARGET = ("192.0.2.10", 2121)
FTP = uuid.UUID(int=21)


@pytest.fixture
def session() -> Session:
    return Session(1, "10.0.0.5", None, SessionFlags.NAT, 0.0)


@pytest.fixture
def bind(session: Session) -> Bind:
    return Bind(1, session, Transport.UDP, ("198.51.100.1", 40000), 0.0)


def test_a_peer_lasts_one_window_after_its_latest_datagram(bind: Bind) -> None:
    flows = FlowBook(window=30.0)
    flows.note_peer(bind, REMOTE, 10.0)
    assert bind.peers == {REMOTE: 40.0}
    flows.note_peer(bind, REMOTE, 20.0)
    assert flows.expire(45.0) == 0
    assert flows.expire(50.0) == 1
    assert bind.peers is None
    assert len(flows) == 0


def test_r31_recent_senders_expire_like_peers(bind: Bind) -> None:
    flows = FlowBook(window=5.0)
    flows.note_sender(bind, REMOTE, 0.0)
    flows.note_sender(bind, ("203.0.113.8", 53), 3.0)
    assert flows.expire(5.0) == 1
    assert bind.recent_senders == {("203.0.113.8", 53): 8.0}


def test_flow_tables_are_bounded_per_bind(bind: Bind) -> None:
    flows = FlowBook(window=60.0)
    for port in range(MAX_FLOWS_PER_BIND + 10):
        flows.note_peer(bind, ("203.0.113.7", port), 0.0)
    assert bind.peers is not None
    assert len(bind.peers) == MAX_FLOWS_PER_BIND
    assert ("203.0.113.7", 0) not in bind.peers
    assert ("203.0.113.7", MAX_FLOWS_PER_BIND + 9) in bind.peers


def test_closed_binds_leave_the_flow_book(bind: Bind) -> None:
    flows = FlowBook(window=60.0)
    flows.note_peer(bind, REMOTE, 0.0)
    bind.move(BindState.TERMINATING)
    bind.move(BindState.CLOSED)
    flows.expire(1.0)
    assert len(flows) == 0


def permission(
    session: Session, flags: FutureFlags, granted: float = 0.0, session_id: int | None = None
) -> Permission:
    expires = granted + FUTURE_CONNECT_TIMEOUT if flags & FutureFlags.TIMEOUT else None
    return Permission(
        session.id if session_id is None else session_id,
        session.client_key,
        Transport.TCP,
        TARGET,
        FTP,
        flags,
        granted,
        expires,
        "filter:ftp",
    )


def test_r46_a_permission_serves_one_connection(session: Session) -> None:
    futures = FutureConnects()
    futures.grant(permission(session, FutureFlags.NONE))
    used = futures.use(session, Transport.TCP, TARGET, 1.0)
    assert used is not None
    assert used.uses == 1
    assert futures.use(session, Transport.TCP, TARGET, 1.0) is None
    assert len(futures) == 0


def test_r46_allow_multiple_serves_any_number(session: Session) -> None:
    futures = FutureConnects()
    futures.grant(permission(session, FutureFlags.ALLOW_MULTIPLE))
    for _ in range(5):
        assert futures.use(session, Transport.TCP, TARGET, 1.0) is not None
    assert futures.all()[0].uses == 5


def test_r46_a_permission_names_one_destination_and_transport(session: Session) -> None:
    futures = FutureConnects()
    futures.grant(permission(session, FutureFlags.NONE))
    assert futures.use(session, Transport.TCP, ("192.0.2.10", 2122), 1.0) is None
    assert futures.use(session, Transport.UDP, TARGET, 1.0) is None


def test_r47_timeout_lapses_after_sixty_seconds(session: Session) -> None:
    futures = FutureConnects()
    futures.grant(permission(session, FutureFlags.TIMEOUT))
    assert FUTURE_CONNECT_TIMEOUT == 60.0
    assert futures.use(session, Transport.TCP, TARGET, 60.0) is None
    assert len(futures.expire(60.0)) == 1
    assert futures.all() == []


def test_r47_without_timeout_a_permission_waits(session: Session) -> None:
    futures = FutureConnects()
    futures.grant(permission(session, FutureFlags.NONE))
    assert futures.expire(10_000.0) == []
    assert futures.use(session, Transport.TCP, TARGET, 10_000.0) is not None


def test_r48_only_the_same_session_unless_address_based(session: Session) -> None:
    sibling = Session(2, "10.0.0.5", "alice", SessionFlags.AUTHENTICATED, 0.0)
    elsewhere = Session(3, "10.0.0.6", None, SessionFlags.NAT, 0.0)
    futures = FutureConnects()
    futures.grant(permission(session, FutureFlags.NONE))
    assert futures.use(sibling, Transport.TCP, TARGET, 1.0) is None
    futures.grant(permission(session, FutureFlags.ADDRESS_BASED))
    assert futures.use(elsewhere, Transport.TCP, TARGET, 1.0) is None
    assert futures.use(sibling, Transport.TCP, TARGET, 1.0) is not None


def test_an_ended_session_loses_its_own_permissions_only(session: Session) -> None:
    futures = FutureConnects()
    futures.grant(permission(session, FutureFlags.NONE))
    futures.grant(permission(session, FutureFlags.ADDRESS_BASED, granted=1.0))
    futures.drop_session(session.id)
    assert [p.flags for p in futures.all()] == [FutureFlags.ADDRESS_BASED]


def test_future_flag_values_are_fixed() -> None:
    assert (FutureFlags.ALLOW_MULTIPLE, FutureFlags.TIMEOUT, FutureFlags.ADDRESS_BASED) == (1, 2, 4)
