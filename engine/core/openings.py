"""The dynamic packet filter: one :class:`Opening` per allowed bind (R33, R86, R90).

With packet filtering on, nothing reaches an external port unless an opening
lets it; only allowed binds get openings, and an opening goes when its bind
stops being allowed. This in-memory table is what the user-space data plane
enforces; a kernel backend (nftables) can mirror it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.core.binds import Bind, BindState, Endpoint
from engine.core.results import Transport
from rules.addresses import AddressRanges

__all__ = ["Opening", "OpeningTable"]


@dataclass(frozen=True, slots=True)
class Opening:
    """A hole in the packet filter: traffic to ``address`` from ``remote`` (None = anyone)."""

    transport: Transport
    address: Endpoint
    remote: AddressRanges | None
    bind_id: int

    @classmethod
    def for_bind(cls, bind: Bind) -> Opening:
        """The opening an allowed ``bind`` needs: its address, restricted by its IP filter."""
        remote = None if bind.ip_filter is None else bind.ip_filter.ranges
        return cls(bind.transport, bind.address, remote, bind.id)


class OpeningTable:
    """Openings by bind id; empty while packet filtering is off."""

    __slots__ = ("_openings", "enabled")

    def __init__(self, enabled: bool) -> None:
        """A table for a service with packet filtering ``enabled`` (or not)."""
        self.enabled = enabled
        self._openings: dict[int, Opening] = {}

    def open(self, bind: Bind) -> Opening | None:
        """Add the opening of the allowed ``bind`` (nothing while packet filtering is off)."""
        if not self.enabled or bind.state is not BindState.ALLOWED:
            return None
        opening = self._openings[bind.id] = Opening.for_bind(bind)
        return opening

    def close(self, bind_id: int) -> Opening | None:
        """Remove the opening of bind ``bind_id``; returns it, or None if it had none."""
        return self._openings.pop(bind_id, None)

    def switch(self, enabled: bool, binds: Iterable[Bind]) -> None:
        """Turn packet filtering on (open every allowed bind) or off (drop every opening)."""
        self.enabled = enabled
        self._openings.clear()
        for bind in binds:
            self.open(bind)

    def get(self, bind_id: int) -> Opening | None:
        """The opening of bind ``bind_id``, if it has one."""
        return self._openings.get(bind_id)

    def all(self) -> list[Opening]:
        """Every opening, by bind id."""
        return [self._openings[key] for key in sorted(self._openings)]

    def __len__(self) -> int:
        return len(self._openings)
