"""Flow state outside the bind tables: UDP peers and senders, and future-connect permissions.

UDP flow model (reference §4.4, R31; documented in the README):

* A datagram a UDP bind sends under a protocol whose primary connection is
  ``send-receive`` (DNS) makes the destination a *peer* of the bind for the
  flow window. Datagrams back from a peer are responses: accepted whatever
  the bind's approval, because that is ordinary outbound use.
* A datagram an allowed ``BIDIRECTIONAL`` bind accepts makes its sender a
  *recent sender* for the flow window; the bind may send back to it (R31).
* Both lists are bounded per bind and pruned by ``tick``.

``AllowFutureConnect`` permissions (R46-R48) let a session make an outbound
connection no protocol rule would allow on its own: once, or any number of
times with ``ALLOW_MULTIPLE``; lapsing after 60 s with ``TIMEOUT``; usable by
any session of the client's IP with ``ADDRESS_BASED``.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Final

from engine.core.binds import Bind, BindState, Endpoint
from engine.core.results import Transport
from engine.core.sessions import Session

__all__ = [
    "FUTURE_CONNECT_TIMEOUT",
    "KNOWN_FUTURE_FLAGS",
    "MAX_FLOWS_PER_BIND",
    "FlowBook",
    "FutureConnects",
    "FutureFlags",
    "Permission",
]

FUTURE_CONNECT_TIMEOUT: Final = 60.0
"""Seconds an unused ``TIMEOUT`` permission lives (R47: "about one minute")."""

MAX_FLOWS_PER_BIND: Final = 256
"""Peers (and, separately, recent senders) a bind remembers; the oldest go first."""


class FutureFlags(enum.IntFlag):
    """``AllowFutureConnect`` flags (the SDK's values were never published; these are fwx's)."""

    NONE = 0
    ALLOW_MULTIPLE = 0x1
    TIMEOUT = 0x2
    ADDRESS_BASED = 0x4


KNOWN_FUTURE_FLAGS: Final = (
    FutureFlags.ALLOW_MULTIPLE | FutureFlags.TIMEOUT | FutureFlags.ADDRESS_BASED
)


def _remember(table: dict[Endpoint, float], remote: Endpoint, until: float) -> None:
    """Set ``remote``'s expiry, evicting the oldest entry when the table is full."""
    if remote not in table and len(table) >= MAX_FLOWS_PER_BIND:
        del table[next(iter(table))]
    table[remote] = until


class FlowBook:
    """Which binds have UDP flow state, so ``tick`` prunes only those."""

    __slots__ = ("_binds", "window")

    def __init__(self, window: float) -> None:
        """Flows last ``window`` seconds after their latest datagram."""
        self.window = window
        self._binds: dict[int, Bind] = {}

    def note_peer(self, bind: Bind, remote: Endpoint, now: float) -> None:
        """``bind`` sent to ``remote`` under a send-receive protocol: replies are responses."""
        peers = bind.peers
        if peers is None:
            peers = bind.peers = {}
        _remember(peers, remote, now + self.window)
        self._binds[bind.id] = bind

    def note_sender(self, bind: Bind, remote: Endpoint, now: float) -> None:
        """The ``BIDIRECTIONAL`` ``bind`` accepted a datagram from ``remote`` (R31)."""
        senders = bind.recent_senders
        if senders is None:
            senders = bind.recent_senders = {}
        _remember(senders, remote, now + self.window)
        self._binds[bind.id] = bind

    def expire(self, now: float) -> int:
        """Forget flows whose window has passed; returns how many went."""
        gone = 0
        for bind_id, bind in list(self._binds.items()):
            for table in (bind.peers, bind.recent_senders):
                if table:
                    stale = [remote for remote, until in table.items() if until <= now]
                    for remote in stale:
                        del table[remote]
                    gone += len(stale)
            if not bind.peers:
                bind.peers = None
            if not bind.recent_senders:
                bind.recent_senders = None
            if bind.state is BindState.CLOSED or (
                bind.peers is None and bind.recent_senders is None
            ):
                del self._binds[bind_id]
        return gone

    def __len__(self) -> int:
        return len(self._binds)


@dataclass(slots=True, eq=False)
class Permission:
    """One ``AllowFutureConnect`` grant."""

    session_id: int
    client_key: int
    transport: Transport
    destination: Endpoint
    protocol: uuid.UUID
    flags: FutureFlags
    granted: float
    expires: float | None
    actor: str
    uses: int = 0

    def serves(self, session: Session) -> bool:
        """True when ``session`` may use the permission (R48)."""
        if self.flags & FutureFlags.ADDRESS_BASED:
            return self.client_key == session.client_key
        return self.session_id == session.id


class FutureConnects:
    """Pending ``AllowFutureConnect`` permissions by (transport, destination)."""

    __slots__ = ("_by_target",)

    def __init__(self) -> None:
        self._by_target: dict[tuple[Transport, Endpoint], list[Permission]] = {}

    def grant(self, permission: Permission) -> None:
        """Add ``permission``."""
        key = (permission.transport, permission.destination)
        self._by_target.setdefault(key, []).append(permission)

    def use(
        self, session: Session, transport: Transport, destination: Endpoint, now: float
    ) -> Permission | None:
        """The permission that lets ``session`` connect to ``destination`` now, consumed (R46)."""
        key = (transport, destination)
        permissions = self._by_target.get(key)
        if not permissions:
            return None
        for permission in permissions:
            if permission.expires is not None and permission.expires <= now:
                continue
            if permission.serves(session):
                permission.uses += 1
                if not permission.flags & FutureFlags.ALLOW_MULTIPLE:
                    self._discard(key, permission)
                return permission
        return None

    def expire(self, now: float) -> list[Permission]:
        """Remove and return the permissions whose time ran out (R47)."""
        lapsed = [
            permission
            for permissions in self._by_target.values()
            for permission in permissions
            if permission.expires is not None and permission.expires <= now
        ]
        for permission in lapsed:
            self._discard((permission.transport, permission.destination), permission)
        return lapsed

    def drop_session(self, session_id: int) -> None:
        """Remove the session-bound permissions of an ended session."""
        doomed = [
            permission
            for permissions in self._by_target.values()
            for permission in permissions
            if permission.session_id == session_id
            and not permission.flags & FutureFlags.ADDRESS_BASED
        ]
        for permission in doomed:
            self._discard((permission.transport, permission.destination), permission)

    def all(self) -> list[Permission]:
        """Every permission still pending, oldest first."""
        every = [p for permissions in self._by_target.values() for p in permissions]
        return sorted(every, key=lambda permission: permission.granted)

    def _discard(self, key: tuple[Transport, Endpoint], permission: Permission) -> None:
        permissions = self._by_target[key]
        permissions.remove(permission)
        if not permissions:
            del self._by_target[key]

    def __len__(self) -> int:
        return sum(len(permissions) for permissions in self._by_target.values())
