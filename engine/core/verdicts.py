"""Verdicts: what the engine answers for each inbound attempt, datagram or outbound connection.

A :class:`Verdict` is ``(action, reason, bind)``. The reason is one fixed word
from :data:`REASONS`, so the data plane, the console and the audit log can
count and filter by it; anything longer (a rule's decision) goes in
``detail``. Verdicts are immutable, so the engine preallocates them (one per
bind and reason, and the constants below) instead of building one per packet.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from engine.core.binds import Bind
    from rules.model import ProtocolDefinition

__all__ = [
    "ACCEPT_REASONS",
    "ALLOWED",
    "BIDIRECTIONAL",
    "DISCARD_REASONS",
    "FUTURE_CONNECT",
    "IP_FILTER",
    "NO_BIND",
    "NO_BIND_VERDICT",
    "PENDING",
    "REASONS",
    "RESPONSE",
    "RULES",
    "TERMINATING",
    "Verdict",
    "VerdictAction",
]

ALLOWED: Final = "allowed"
"""Accepted: the bind is allowed (and the remote passes its IP filter), or the rules allow it."""
RESPONSE: Final = "response"
"""Accepted: a UDP datagram from a peer the bind sent to under a send-receive protocol."""
BIDIRECTIONAL: Final = "bidirectional"
"""Accepted: a UDP datagram sent back to a recent sender of a ``BIDIRECTIONAL`` bind (R31)."""
FUTURE_CONNECT: Final = "future-connect"
"""Accepted: an outbound connection pre-authorised by ``allow_future_connect`` (R46)."""
PENDING: Final = "pending"
"""Discarded: the bind is not approved yet (R12)."""
IP_FILTER: Final = "ip-filter"
"""Discarded: the bind is allowed but its IP filter excludes the remote (R28, R29)."""
NO_BIND: Final = "no-bind"
"""Discarded: no live bind holds that external address (R86)."""
TERMINATING: Final = "terminating"
"""Discarded: the bind (or the session) is shutting down."""
RULES: Final = "rules"
"""Discarded: no protocol the session may use covers this outbound traffic."""

REASONS: Final = (
    ALLOWED,
    RESPONSE,
    BIDIRECTIONAL,
    FUTURE_CONNECT,
    PENDING,
    IP_FILTER,
    NO_BIND,
    TERMINATING,
    RULES,
)
"""Every reason a verdict can carry."""

ACCEPT_REASONS: Final = (ALLOWED, RESPONSE, BIDIRECTIONAL, FUTURE_CONNECT)
"""The reasons of accept verdicts."""

DISCARD_REASONS: Final = (PENDING, IP_FILTER, NO_BIND, TERMINATING, RULES)
"""The reasons of discard verdicts, in the order summaries list them."""


class VerdictAction(enum.Enum):
    """What the data plane does with the traffic."""

    ACCEPT = "accept"
    DISCARD = "discard"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The engine's answer for one connection attempt or datagram."""

    action: VerdictAction
    reason: str
    bind: Bind | None = None
    detail: str = ""
    protocol: ProtocolDefinition | None = None
    """For ``connect``: the protocol whose rules decided, so its application filter can attach."""

    @property
    def accepted(self) -> bool:
        """True when the traffic is to be delivered."""
        return self.action is VerdictAction.ACCEPT

    def __repr__(self) -> str:
        bind = "" if self.bind is None else f", bind={self.bind.id}"
        detail = f", detail={self.detail!r}" if self.detail else ""
        return f"Verdict({self.action.value}, {self.reason!r}{bind}{detail})"


NO_BIND_VERDICT: Final = Verdict(VerdictAction.DISCARD, NO_BIND)
"""The verdict for traffic to an external address no live bind holds."""
