"""Sessions: one client identity (client IP + user, or IP alone) and the binds it holds.

fwx keeps one session per (client IP, user name), shared by all SOCKS
connections of that identity (reference §14.2): FTP's control connection and
its data bind arrive on different SOCKS connections and must find each other
(R19). That deliberately widens R2 (one session per control channel). A
session without a user is a SecureNAT-style session (``NAT``), keyed by IP
alone (R3) and evaluated by IP alone (R6).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rules.addresses import address_key, key_text

if TYPE_CHECKING:
    from engine.core.binds import Bind, Endpoint

__all__ = ["Session", "SessionFlags", "SessionTable"]


class SessionFlags(enum.IntFlag):
    """``GetSessionFlags`` bits (R7). The SDK's values were never published; these are fwx's."""

    NONE = 0
    NAT = 0x1
    PRIVATE = 0x2
    AUTHENTICATED = 0x4
    TERMINATED = 0x8


class Session:
    """All binds and connections of one client identity (R1)."""

    __slots__ = ("binds", "client", "client_key", "created", "flags", "id", "user")

    def __init__(
        self,
        session_id: int,
        client: str,
        user: str | None,
        flags: SessionFlags,
        created: float,
    ) -> None:
        """A session of ``client`` (canonical IP text) and ``user`` (None = anonymous)."""
        self.id = session_id
        self.client = client
        self.client_key = address_key(client)
        """The client IP as an address key, the form the protocol rules are checked with."""
        self.user = user
        self.flags = flags
        self.created = created
        self.binds: dict[int, Bind] = {}
        """The session's live binds (not yet closed), by id, oldest first."""

    @property
    def terminated(self) -> bool:
        """True once the session has ended (R7): it must not be used any more."""
        return bool(self.flags & SessionFlags.TERMINATED)

    def client_address(self) -> Endpoint:
        """The client's address with port 0, as ``GetClientAddress`` returns it (R5)."""
        return (self.client, 0)

    def __repr__(self) -> str:
        who = self.user if self.user is not None else "anonymous"
        return f"Session({self.id}, {self.client}, {who}, {self.flags!r})"


class SessionTable:
    """Find-or-create by (client IP, user) (R3, R4); ended sessions leave the table."""

    __slots__ = ("_by_identity", "_next_id")

    def __init__(self) -> None:
        self._by_identity: dict[tuple[int, str | None], Session] = {}
        self._next_id = 1

    def find(self, client: str, user: str | None) -> Session | None:
        """The live session of this identity, if any; raises ValueError for a bad IP."""
        return self._by_identity.get((address_key(client), user))

    def create(self, client: str, user: str | None, flags: SessionFlags, created: float) -> Session:
        """A new session for an identity that has none; raises ValueError for a bad IP."""
        key = address_key(client)
        session = Session(self._next_id, key_text(key), user, flags, created)
        self._next_id += 1
        self._by_identity[(key, user)] = session
        return session

    def end(self, session: Session) -> None:
        """Flag ``session`` terminated and forget it, so the identity's next use starts afresh."""
        session.flags |= SessionFlags.TERMINATED
        if self._by_identity.get((session.client_key, session.user)) is session:
            del self._by_identity[(session.client_key, session.user)]

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_identity.values()))

    def __len__(self) -> int:
        return len(self._by_identity)
