"""Turning engine events and operator records into audit rows, cheaply, on the event loop.

A row carries what ``fwx log`` filters on without parsing JSON: the wall
time (events carry the engine's monotonic clock), the session's client and
user (remembered from ``session-created`` events, forgotten once the
session's end is written), who acted (``actor`` in the event's detail), and
a verdict: ``discard`` for a discard summary, ``accept`` for an accepted
inbound connection, the verdict of a ``connect``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from engine.audit.store import Row
from engine.core import Event, EventKind, Gap, Session

__all__ = ["RowMaker", "make_row", "run_id", "to_json"]

_FIXED_VERDICTS = {
    EventKind.DISCARD_SUMMARY: "discard",
    EventKind.INBOUND_ACCEPTED: "accept",
}
_SESSION_CREATED = EventKind.SESSION_CREATED
_SESSION_ENDED = EventKind.SESSION_ENDED
_CONNECT = EventKind.CONNECT
_Identity = tuple[str | None, str | None]


def run_id(wall: float) -> str:
    """A new run's id: its UTC start time, the process id and a random tag (sortable by time)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall))
    return f"{stamp}-{os.getpid()}-{secrets.token_hex(2)}"


def to_json(detail: Mapping[str, object]) -> str:
    """``detail`` as compact JSON; values JSON cannot hold are written as their text."""
    return json.dumps(dict(detail), separators=(",", ":"), ensure_ascii=False, default=str)


def make_row(
    run: str,
    wall: float,
    kind: str,
    detail: Mapping[str, object],
    *,
    actor: str | None = None,
    bind_id: int | None = None,
    session_id: int | None = None,
    identity: _Identity = (None, None),
) -> Row:
    """A row that is not an engine event (no ``seq``): a record, or a note of the log's own."""
    client, user = identity
    return (run, None, wall, kind, bind_id, session_id, client, user, actor, None, to_json(detail))


class RowMaker:
    """Builds the rows of one run and remembers who each live session is."""

    __slots__ = ("_clock", "_sessions", "_source", "_wall", "missed", "run")

    def __init__(
        self,
        run: str,
        sessions: Callable[[], Iterable[Session]],
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        """Rows for ``run``; ``sessions`` lists the engine's live sessions, ``clock`` its clock."""
        self.run = run
        self._source = sessions
        self._clock = clock
        self._wall = wall_clock
        self._sessions: dict[int, _Identity] = {}
        self.missed = 0
        """Events the subscription lost before they could be written (the sum of its gaps)."""

    def rows(self, items: Sequence[Event | Gap]) -> list[Row]:
        """One row per event (a lost stretch becomes one ``events-missed`` row), oldest first."""
        offset = self._wall() - self._clock()
        run = self.run
        sessions = self._sessions
        refreshed = False
        rows: list[Row] = []
        for item in items:
            if isinstance(item, Gap):
                self.missed += item.missed
                rows.append(make_row(run, self._wall(), "events-missed", {"missed": item.missed}))
                continue
            kind = item.kind
            detail = item.detail
            session_id = item.session_id
            client = user = None
            if session_id is not None:
                identity = sessions.get(session_id)
                if identity is None and kind is _SESSION_CREATED:
                    identity = sessions[session_id] = _created(detail)
                elif identity is None and not refreshed:
                    self.learn()
                    refreshed = True
                    identity = sessions.get(session_id)
                if identity is not None:
                    client, user = identity
                if kind is _SESSION_ENDED:
                    sessions.pop(session_id, None)
            actor = detail.get("actor")
            verdict = _FIXED_VERDICTS.get(kind)
            if kind is _CONNECT:
                verdict = _text(detail.get("verdict"))
            rows.append(
                (
                    run, item.seq, item.time + offset, kind.value, item.bind_id, session_id,
                    client, user, _text(actor), verdict, to_json(detail),
                )
            )  # fmt: skip
        return rows

    def record(
        self,
        kind: str,
        actor: str | None,
        detail: Mapping[str, object],
        *,
        bind_id: int | None = None,
        session_id: int | None = None,
    ) -> Row:
        """A row for something outside the engine (an operator's request, a service start)."""
        identity: _Identity = (None, None)
        if session_id is not None:
            identity = self._sessions.get(session_id) or self._lookup(session_id)
        return make_row(
            self.run,
            self._wall(),
            kind,
            detail,
            actor=actor,
            bind_id=bind_id,
            session_id=session_id,
            identity=identity,
        )

    def learn(self) -> None:
        """Remember every live session (those created before the log started, or missed)."""
        for session in self._source():
            self._sessions.setdefault(session.id, (session.client, session.user))

    def _lookup(self, session_id: int) -> _Identity:
        self.learn()
        return self._sessions.get(session_id, (None, None))


def _created(detail: Mapping[str, object]) -> _Identity:
    return _text(detail.get("client")), _text(detail.get("user"))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
