"""The application-filter protocol: a small class with named hooks, and what a filter may do.

A filter watches the primary connection of each protocol whose definition
names it (``filter = "ftp"`` in the rule file). The data plane hands its hooks
the bytes each side sends, as they arrive (any TCP segmentation), and writes
what the hooks return, an :class:`Output`:

* pass: return the bytes unchanged towards their destination;
* hold: return less than was given and keep the rest (e.g. a partial line);
* rewrite: return other bytes;
* answer: return bytes for the side that sent them (``to_client`` from
  ``client_data``), e.g. an error reply for a refused command.

An empty ``data`` means that side ended its stream: the hook returns whatever
it still holds. ``closed`` is called once when the connection is over.

A filter acts on the firewall only through its :class:`FilterSession`, which
offers the session's three methods and nothing else, so what a filter may do
is exactly what a session may do (reference §4-§6). Every call is made in the
filter's name (actor ``filter:<name>``), which the events show.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar, Protocol

from engine.core import Endpoint, Engine, FutureFlags, HResult, IpFilter, Session, Transport

__all__ = ["ClientBinder", "Filter", "FilterSession", "Output"]


@dataclass(frozen=True, slots=True)
class Output:
    """What a hook gives back: bytes to write to the server and bytes to write to the client."""

    to_server: bytes = b""
    to_client: bytes = b""


class ClientBinder(Protocol):
    """The data plane's part of ``BindForClient``: a real listener that forwards to the client."""

    def bind_for_client(
        self,
        session: Session,
        client_address: Endpoint,
        protocol_guid: uuid.UUID,
        ip_filter: IpFilter | None,
        actor: str,
    ) -> tuple[HResult, Endpoint | None]:
        """Listen on the external address; the engine's result and the address to advertise."""
        ...


class FilterSession:
    """The session of the connection a filter watches, as far as a filter may use it.

    Besides the three session methods it tells the filter where the
    connection runs: the client's address, the server's address, and the
    external address the server sees (the one to advertise to it).
    """

    __slots__ = (
        "_binder",
        "_engine",
        "_session",
        "actor",
        "client",
        "external",
        "protocol",
        "server",
    )

    def __init__(
        self,
        engine: Engine,
        session: Session,
        *,
        protocol: uuid.UUID,
        client: Endpoint,
        server: Endpoint,
        external: str,
        actor: str,
        binder: ClientBinder,
    ) -> None:
        """The session of ``client``'s connection to ``server``, for the protocol ``protocol``."""
        self._engine = engine
        self._session = session
        self._binder = binder
        self.protocol = protocol
        """GUID of the protocol whose primary connection this is."""
        self.client = client
        """The client's end of the connection (its address as the firewall sees it)."""
        self.server = server
        """The server's end of the connection."""
        self.external = external
        """The IP address the server sees the firewall at: the one to advertise to it."""
        self.actor = actor
        """Who the events name as the author of this filter's calls (``filter:<name>``)."""

    def retroactive_allow_bind(
        self,
        transport: Transport,
        address: Endpoint,
        protocol_guid: uuid.UUID,
        flags: int,
        ip_filter: IpFilter | None,
    ) -> HResult:
        """``IFWXSession::RetroactiveAllowBind`` on this session's bind at ``address`` (§4)."""
        return self._engine.retroactive_allow_bind(
            self._session,
            transport,
            address,
            None,
            protocol_guid,
            flags,
            ip_filter,
            actor=self.actor,
        )

    def bind_for_client(
        self, client_address: Endpoint, protocol_guid: uuid.UUID, ip_filter: IpFilter | None
    ) -> tuple[HResult, Endpoint | None]:
        """``IFWXSession::BindForClient`` for one TCP client address (§5).

        The firewall listens on its external address (a port it picks),
        approves the bind for ``protocol_guid`` with ``ip_filter``, and
        forwards the connection it accepts there to ``client_address`` (R45).
        Returns the result and the external address to advertise.
        """
        return self._binder.bind_for_client(
            self._session, client_address, protocol_guid, ip_filter, self.actor
        )

    def allow_future_connect(
        self, address: Endpoint, protocol_guid: uuid.UUID, flags: FutureFlags
    ) -> HResult:
        """``IFWXSession::AllowFutureConnect``: let the client connect to ``address`` (TCP)."""
        return self._engine.allow_future_connect(
            self._session, address, Transport.TCP, protocol_guid, flags, actor=self.actor
        )


class Filter:
    """An application filter: subclass it, name it, override the hooks you need.

    The defaults pass every byte through unchanged. One instance watches one
    connection; the data plane calls its hooks one at a time, never
    concurrently. A hook that raises ends the connection it watches (the
    service logs it and goes on).
    """

    name: ClassVar[str] = ""
    """The name rule files use (``filter = "<name>"``): lower-case letters, digits, - and _."""

    def __init__(self, session: FilterSession) -> None:
        """A filter for one connection of ``session``."""
        self.session = session

    def client_data(self, data: bytes) -> Output:
        """Bytes from the client (empty: the client ended its stream)."""
        return Output(to_server=data)

    def server_data(self, data: bytes) -> Output:
        """Bytes from the server (empty: the server ended its stream)."""
        return Output(to_client=data)

    def closed(self) -> None:
        """The connection is over; release what the filter holds."""
