"""BindBook: every index follows a bind through its life (R9, R33, R55, R90)."""

from __future__ import annotations

import uuid

import pytest

from engine.core.binds import BindState
from engine.core.events import Event, EventHub, EventKind
from engine.core.lifecycle import BindBook
from engine.core.openings import OpeningTable
from engine.core.results import Flags, HResult, Transport
from engine.core.sessions import Session, SessionFlags

ADDRESS = ("198.51.100.1", 40000)
FTP = uuid.UUID(int=21)
PORTS = (40000, 40009)


@pytest.fixture
def hub() -> EventHub:
    return EventHub()


@pytest.fixture
def book(hub: EventHub) -> BindBook:
    return BindBook(hub, OpeningTable(enabled=True))


@pytest.fixture
def session() -> Session:
    return Session(1, "10.0.0.5", None, SessionFlags.NAT, 0.0)


def test_r9_a_created_bind_is_pending_and_indexed(book: BindBook, session: Session) -> None:
    bind = book.create(session, Transport.TCP, ADDRESS, 1.0)
    assert bind.state is BindState.PENDING
    assert book.binds == {bind.id: bind}
    assert book.pending == {bind.id: bind}
    assert session.binds == {bind.id: bind}
    assert book.tables[Transport.TCP].find(ADDRESS) is bind
    assert book.tables[Transport.UDP].find(ADDRESS) is None


def test_bind_ids_are_never_reused(book: BindBook, session: Session) -> None:
    first = book.create(session, Transport.TCP, ADDRESS, 0.0)
    book.close(first, 0.0, "test")
    second = book.create(session, Transport.TCP, ADDRESS, 0.0)
    assert second.id == first.id + 1


def test_r33_allowing_opens_and_leaves_the_pending_list(book: BindBook, session: Session) -> None:
    bind = book.create(session, Transport.UDP, ADDRESS, 0.0)
    book.allow(bind, FTP, Flags.BIDIRECTIONAL, None, "operator:root", 2.0, "FTP", "allowed")
    assert book.pending == {}
    opening = book.openings.get(bind.id)
    assert opening is not None
    assert opening.address == ADDRESS


def test_r90_terminate_then_close_removes_every_trace(
    book: BindBook, session: Session, hub: EventHub
) -> None:
    events = hub.subscribe()
    bind = book.create(session, Transport.TCP, ADDRESS, 0.0)
    book.allow(bind, FTP, Flags.NONE, None, "t", 0.0, "FTP", "allowed")
    assert book.terminate(bind, 1.0, "t") is HResult.S_OK
    assert book.openings.get(bind.id) is None
    assert book.tables[Transport.TCP].find(ADDRESS) is bind
    assert book.terminate(bind, 1.0, "t") is HResult.FWX_E_TERMINATING
    assert book.close(bind, 2.0, "t") is HResult.S_OK
    assert book.close(bind, 2.0, "t") is HResult.NOT_FOUND
    assert book.terminate(bind, 2.0, "t") is HResult.NOT_FOUND
    assert book.binds == {}
    assert session.binds == {}
    assert book.tables[Transport.TCP].find(ADDRESS) is None
    assert [event.kind for event in events.drain() if isinstance(event, Event)] == [
        EventKind.BIND_CREATED,
        EventKind.BIND_ALLOWED,
        EventKind.BIND_TERMINATING,
        EventKind.BIND_CLOSED,
    ]


def test_r55_closing_a_live_bind_passes_through_terminating(
    book: BindBook, session: Session, hub: EventHub
) -> None:
    bind = book.create(session, Transport.TCP, ADDRESS, 0.0)
    events = hub.subscribe()
    book.close(bind, 1.0, "t")
    assert bind.state is BindState.CLOSED
    assert book.pending == {}
    drained = [event for event in events.drain() if isinstance(event, Event)]
    assert [event.kind for event in drained] == [EventKind.BIND_TERMINATING, EventKind.BIND_CLOSED]
    assert drained[0].detail["was"] == "pending"


def test_overdue_lists_old_pending_binds_oldest_first(book: BindBook, session: Session) -> None:
    old = book.create(session, Transport.TCP, ("198.51.100.1", 40000), 0.0)
    allowed = book.create(session, Transport.TCP, ("198.51.100.1", 40001), 1.0)
    book.allow(allowed, FTP, Flags.NONE, None, "t", 1.0, "FTP", "allowed")
    newer = book.create(session, Transport.TCP, ("198.51.100.1", 40002), 5.0)
    assert book.overdue(10.0, 10.0) == [old]
    assert book.overdue(15.0, 10.0) == [old, newer]
    assert book.overdue(9.0, 10.0) == []


def test_place_picks_ports_and_refuses_taken_addresses(book: BindBook, session: Session) -> None:
    book.create(session, Transport.TCP, ADDRESS, 0.0)
    assert book.place(Transport.TCP, ADDRESS, PORTS) == (HResult.E_INVALIDARG, None)
    assert book.place(Transport.UDP, ADDRESS, PORTS) == (HResult.S_OK, ADDRESS)
    assert book.place(Transport.TCP, ("198.51.100.1", 0), PORTS) == (
        HResult.S_OK,
        ("198.51.100.1", 40001),
    )
    assert book.place(Transport.TCP, ("198.51.100.1", 0), (40000, 40000)) == (
        HResult.FWX_E_OUT_OF_RESOURCES,
        None,
    )


def test_r19_lookup_searches_only_the_given_session(book: BindBook, session: Session) -> None:
    other = Session(2, "10.0.0.6", None, SessionFlags.NAT, 0.0)
    bind = book.create(other, Transport.TCP, ADDRESS, 0.0)
    assert book.find_for_session(session, Transport.TCP, ADDRESS) is None
    assert book.find_for_session(other, Transport.TCP, ADDRESS) is bind
    assert book.find_for_session(other, Transport.UDP, ADDRESS) is None


def test_r20_a_wildcard_lookup_prefers_a_live_bind_to_a_terminating_one(
    book: BindBook, session: Session
) -> None:
    ending = book.create(session, Transport.TCP, ("198.51.100.1", 40000), 0.0)
    book.terminate(ending, 0.0, "t")
    live = book.create(session, Transport.TCP, ("198.51.100.2", 40000), 0.0)
    assert book.find_for_session(session, Transport.TCP, ("0.0.0.0", 40000)) is live
    book.close(live, 0.0, "t")
    assert book.find_for_session(session, Transport.TCP, ("0.0.0.0", 40000)) is ending
