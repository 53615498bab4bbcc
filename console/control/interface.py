"""The one control interface between the console and a running service.

Everything the console shows or does goes through :class:`Control`: the
in-process implementation (:class:`console.control.local.LocalControl`)
marshals each call onto the service's event loop, and an admin-socket
implementation can carry the same calls as JSON lines, because arguments and
answers are plain values (snapshots, GUID text, ints) or rule-model values
that ``rules.saver.dumps`` / ``rules.loader.loads`` turn into text and back.

Every method is a coroutine: the console awaits it on its own loop and is
never blocked by the service, and the service is never slowed by the screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from engine.admin.snapshots import (
    BindSnapshot,
    EventBatch,
    IpFilterSetSnapshot,
    IpFilterSpec,
    OpeningSnapshot,
    Outcome,
    ProtocolSnapshot,
    RuleSnapshot,
    ServiceInfo,
    SessionSnapshot,
)
from engine.core.results import HResult
from rules.model import ProtocolDefinition, RuleSet

__all__ = ["Control", "EventStream"]


class EventStream(Protocol):
    """Batches of engine events, each covering one short interval; ``close`` ends it."""

    def __aiter__(self) -> AsyncIterator[EventBatch]: ...

    async def __anext__(self) -> EventBatch: ...

    def close(self) -> None: ...


class Control(Protocol):
    """List, allow, terminate, register, read and write rules, subscribe."""

    async def info(self) -> ServiceInfo:
        """Where the service listens, its external address and rule file."""
        ...

    async def binds(self) -> list[BindSnapshot]:
        """Every live bind, by id."""
        ...

    async def sessions(self) -> list[SessionSnapshot]:
        """Every live session, by id."""
        ...

    async def protocols(self) -> list[ProtocolSnapshot]:
        """Every protocol the engine knows: the rule file's, then run-time registrations."""
        ...

    async def rules(self) -> list[RuleSnapshot]:
        """The protocol rules in evaluation order, each with its decision role."""
        ...

    async def ip_filters(self) -> list[IpFilterSetSnapshot]:
        """The rule file's named IP filter sets."""
        ...

    async def openings(self) -> list[OpeningSnapshot]:
        """The dynamic packet-filter openings, by bind id."""
        ...

    async def allow(
        self, bind_id: int, protocol: str | None, flags: int, ip_filter: IpFilterSpec
    ) -> HResult:
        """``RetroactiveAllowBind`` on bind ``bind_id`` for its own session.

        ``protocol`` is the GUID text (None: no protocol, which policy
        denies). The answer is exactly the engine's result code; a bind id
        that no longer exists is ``NOT_FOUND``, and an IP filter spec that
        does not parse (or names an unknown set) is ``E_INVALIDARG``.
        """
        ...

    async def terminate(self, bind_id: int) -> HResult:
        """End bind ``bind_id``: its socket is closed and its opening removed."""
        ...

    async def register_protocol(self, definition: ProtocolDefinition) -> Outcome:
        """Add a protocol to the rule file and apply it (``ALREADY_EXISTS`` for a known GUID)."""
        ...

    async def get_rules(self) -> RuleSet:
        """The rule set in force."""
        ...

    async def put_rules(self, ruleset: RuleSet) -> Outcome:
        """Validate, save and apply ``ruleset``; when refused, nothing changes and it says why."""
        ...

    def subscribe(self, interval: float = 0.1) -> EventStream:
        """A stream of :class:`EventBatch`, at most one per ``interval`` seconds."""
        ...
