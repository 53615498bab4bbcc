"""The protocol registry: the protocols the engine knows, by GUID (reference §9).

It holds the rule file's protocol definitions and those registered at run
time (``RegisterProtocolForFilter``). A GUID is registered once: a second
registration gets ``ALREADY_EXISTS`` and changes nothing (R70). The registry
also indexes primary connections by (transport, port): the inbound ones make
a bind recognisable at bind time (R11, R74), the outbound ones are what
outbound connections and datagrams are judged by.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from engine.core.results import HResult, Transport
from rules.model import Direction, ProtocolDefinition

__all__ = ["ProtocolRegistry", "is_outbound"]

_Index = dict[tuple[Transport, int], tuple[ProtocolDefinition, ...]]


def is_outbound(direction: Direction) -> bool:
    """True when the client opens the primary connection: TCP outbound, UDP send(-receive)."""
    return direction in (Direction.OUTBOUND, Direction.SEND, Direction.SEND_RECEIVE)


class ProtocolRegistry:
    """Rule-file protocols plus run-time registrations, looked up by GUID or primary port."""

    __slots__ = ("_from_rules", "_inbound", "_outbound", "_registered")

    def __init__(self, rule_protocols: Iterable[ProtocolDefinition] = ()) -> None:
        """A registry holding the rule file's ``rule_protocols``."""
        self._from_rules: dict[uuid.UUID, ProtocolDefinition] = {}
        self._registered: dict[uuid.UUID, ProtocolDefinition] = {}
        self._inbound: _Index = {}
        self._outbound: _Index = {}
        self.replace_rule_protocols(rule_protocols)

    def get(self, guid: uuid.UUID | None) -> ProtocolDefinition | None:
        """The protocol with ``guid``, or None (also for None)."""
        if guid is None:
            return None
        return self._from_rules.get(guid) or self._registered.get(guid)

    def all(self) -> list[ProtocolDefinition]:
        """Every protocol: the rule file's in file order, then registrations in order."""
        return [*self._from_rules.values(), *self._registered.values()]

    def is_registered(self, guid: uuid.UUID) -> bool:
        """True when ``guid`` came from :meth:`register` rather than the rule file."""
        return guid in self._registered

    def register(self, definition: ProtocolDefinition) -> HResult:
        """Add ``definition``: ``S_OK``, or ``ALREADY_EXISTS`` for a known GUID (R70)."""
        if self.get(definition.guid) is not None:
            return HResult.ALREADY_EXISTS
        self._registered[definition.guid] = definition
        self._reindex()
        return HResult.S_OK

    def unregister(self, guid: uuid.UUID) -> HResult:
        """Remove the protocol with ``guid``: ``S_OK``, or ``NOT_FOUND``.

        A rule-file protocol can be removed too; it comes back with the next
        rules reload, which rebuilds the rule file's part of the registry.
        """
        if self._registered.pop(guid, None) is None and self._from_rules.pop(guid, None) is None:
            return HResult.NOT_FOUND
        self._reindex()
        return HResult.S_OK

    def replace_rule_protocols(
        self, rule_protocols: Iterable[ProtocolDefinition]
    ) -> list[ProtocolDefinition]:
        """Swap in a new rule file's protocols; returns registrations they displace.

        The rule file is the operator's word: a run-time registration whose
        GUID the new file defines is dropped in favour of the file's definition.
        """
        self._from_rules = {proto.guid: proto for proto in rule_protocols}
        displaced = [proto for guid, proto in self._registered.items() if guid in self._from_rules]
        for proto in displaced:
            del self._registered[proto.guid]
        self._reindex()
        return displaced

    def inbound(self, transport: Transport, port: int) -> tuple[ProtocolDefinition, ...]:
        """Protocols whose primary connection accepts inbound on ``port`` (R11, R74)."""
        return self._inbound.get((transport, port), ())

    def outbound(self, transport: Transport, port: int) -> tuple[ProtocolDefinition, ...]:
        """Protocols whose primary connection the client opens towards ``port``."""
        return self._outbound.get((transport, port), ())

    def _reindex(self) -> None:
        inbound: dict[tuple[Transport, int], list[ProtocolDefinition]] = {}
        outbound: dict[tuple[Transport, int], list[ProtocolDefinition]] = {}
        for proto in self.all():
            primary = proto.primary
            key = (primary.transport, primary.port)
            if primary.direction.accepts_inbound:
                inbound.setdefault(key, []).append(proto)
            if is_outbound(primary.direction):
                outbound.setdefault(key, []).append(proto)
        self._inbound = {key: tuple(protos) for key, protos in inbound.items()}
        self._outbound = {key: tuple(protos) for key, protos in outbound.items()}

    def __contains__(self, guid: object) -> bool:
        return guid in self._from_rules or guid in self._registered

    def __len__(self) -> int:
        return len(self._from_rules) + len(self._registered)
