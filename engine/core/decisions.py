"""The protocol-rule questions the engine asks, answered from the rules in force.

Every policy check is the same test (R84): may this session's identity (its
user, or none, and its client IP) use the protocol with this GUID? A GUID the
registry does not hold is refused before the rules are asked (R76). The
bind-time question (R11) and the outbound question apply that test to the
protocols whose primary connection fits the port.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from engine.core.registry import ProtocolRegistry
from engine.core.results import Transport
from engine.core.sessions import Session
from rules.model import ProtocolDefinition, RuleSet
from rules.policy import Decision, Policy

__all__ = ["Answer", "RuleContext"]

_MAX_REMEMBERED = 100_000


@dataclass(frozen=True, slots=True)
class Answer:
    """A policy answer: allowed or not, the protocol concerned, and the words that explain it."""

    allowed: bool
    protocol: ProtocolDefinition | None
    text: str
    rule: str | None = None


class RuleContext:
    """The rule set in force, its compiled policy and the protocol registry."""

    __slots__ = ("_outbound", "policy", "registry", "ruleset")

    def __init__(self, ruleset: RuleSet, registry: ProtocolRegistry) -> None:
        """Compile ``ruleset``; ``registry`` is shared with the engine."""
        self.ruleset = ruleset
        self.policy = Policy.compile(ruleset)
        self.registry = registry
        self._outbound: dict[tuple[int, Transport, int], Answer | None] = {}

    def replace(self, ruleset: RuleSet) -> None:
        """Put ``ruleset`` in force for every later check (R85)."""
        self.policy = Policy.compile(ruleset)
        self.ruleset = ruleset
        self.forget()

    def forget(self) -> None:
        """Drop remembered answers: the rules or the registry changed."""
        self._outbound.clear()

    def decide(self, session: Session, guid: uuid.UUID | None) -> Answer:
        """May ``session`` use the protocol ``guid``? (R25, R44, R84)."""
        protocol = self.registry.get(guid)
        if protocol is None:
            return Answer(False, None, f"protocol {guid} is not registered")
        return self._answer(session, protocol)

    def at_bind_time(self, session: Session, transport: Transport, port: int) -> Answer | None:
        """The R11 decision for a bind on ``port``: None when no protocol recognises it."""
        return self._first_allowed(session, self.registry.inbound(transport, port))

    def outbound(self, session: Session, transport: Transport, port: int) -> Answer | None:
        """The decision for the client opening a flow to ``port``; None when no protocol covers it.

        Answers are remembered per (session, transport, port) until the rules or
        the registry change, so a stream of datagrams costs one lookup each.
        """
        key = (session.id, transport, port)
        try:
            return self._outbound[key]
        except KeyError:
            pass
        if len(self._outbound) >= _MAX_REMEMBERED:
            self._outbound.clear()
        answer = self._outbound[key] = self._first_allowed(
            session, self.registry.outbound(transport, port)
        )
        return answer

    def _first_allowed(
        self, session: Session, protocols: tuple[ProtocolDefinition, ...]
    ) -> Answer | None:
        """The first protocol the session may use, else the first refusal, else None."""
        refusal: Answer | None = None
        for protocol in protocols:
            answer = self._answer(session, protocol)
            if answer.allowed:
                return answer
            refusal = refusal or answer
        return refusal

    def _answer(self, session: Session, protocol: ProtocolDefinition) -> Answer:
        decision: Decision = self.policy.check(protocol.guid, session.user, session.client_key)
        return Answer(decision.allowed, protocol, str(decision), decision.rule)
