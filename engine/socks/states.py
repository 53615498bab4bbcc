"""The states of a server-side SOCKS5 connection and the one table of legal moves.

Every change of state, whether caused by a message from the client or by an
answer from the server, is a row of ``TRANSITIONS``; a move that is not in the
table raises ``LocalProtocolError`` and changes nothing.

    GREETING -> CHOOSING_METHOD -> (AUTHENTICATING -> VERIFYING ->) REQUEST
    REQUEST -> REPLYING -> RELAYING                          (CONNECT, UDP ASSOCIATE)
    REPLYING -> AWAITING_SECOND_REPLY -> RELAYING            (BIND)
    any refusal, failure reply or protocol error -> CLOSED
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "RECEIVING_STATES",
    "REPLY_STATES",
    "TRANSITIONS",
    "LocalProtocolError",
    "State",
    "Trigger",
    "next_state",
]


class LocalProtocolError(RuntimeError):
    """The server called the codec out of turn (a bug in the caller, not the peer)."""


class State(enum.Enum):
    """Where a connection is; the comment says whose turn it is."""

    GREETING = "greeting"
    """Waiting for the client's greeting."""
    CHOOSING_METHOD = "choosing-method"
    """The server must call ``choose_method``."""
    AUTHENTICATING = "authenticating"
    """Waiting for RFC 1929 credentials."""
    VERIFYING = "verifying"
    """The server must call ``auth_result``."""
    REQUEST = "request"
    """Waiting for the client's request."""
    REPLYING = "replying"
    """The server must call ``reply``."""
    AWAITING_SECOND_REPLY = "awaiting-second-reply"
    """BIND is listening; the server must call ``second_reply``."""
    RELAYING = "relaying"
    """Handshake done: bytes are relayed (for UDP ASSOCIATE the connection only holds the
    association open)."""
    CLOSED = "closed"
    """Refused, failed or broken: the server closes the connection."""


class Trigger(enum.Enum):
    """What moves a connection: a message received or an answer sent."""

    GREETING_RECEIVED = "greeting received"
    CHOSE_NO_AUTH = "choosing no authentication"
    CHOSE_PASSWORD = "choosing username/password"
    CHOSE_NONE = "refusing every method"
    CREDENTIALS_RECEIVED = "credentials received"
    AUTH_SUCCEEDED = "authentication success"
    AUTH_FAILED = "authentication failure"
    REQUEST_RECEIVED = "request received"
    REPLY_SUCCEEDED = "a success reply"
    BIND_LISTENING = "the first BIND reply"
    REPLY_FAILED = "a failure reply"
    PEER_CONNECTED = "a successful second BIND reply"
    PEER_FAILED = "a failed second BIND reply"
    PROTOCOL_ERROR = "a protocol error"


TRANSITIONS: Final[dict[tuple[State, Trigger], State]] = {
    (State.GREETING, Trigger.GREETING_RECEIVED): State.CHOOSING_METHOD,
    (State.CHOOSING_METHOD, Trigger.CHOSE_NO_AUTH): State.REQUEST,
    (State.CHOOSING_METHOD, Trigger.CHOSE_PASSWORD): State.AUTHENTICATING,
    (State.CHOOSING_METHOD, Trigger.CHOSE_NONE): State.CLOSED,
    (State.AUTHENTICATING, Trigger.CREDENTIALS_RECEIVED): State.VERIFYING,
    (State.VERIFYING, Trigger.AUTH_SUCCEEDED): State.REQUEST,
    (State.VERIFYING, Trigger.AUTH_FAILED): State.CLOSED,
    (State.REQUEST, Trigger.REQUEST_RECEIVED): State.REPLYING,
    (State.REPLYING, Trigger.REPLY_SUCCEEDED): State.RELAYING,
    (State.REPLYING, Trigger.BIND_LISTENING): State.AWAITING_SECOND_REPLY,
    (State.REPLYING, Trigger.REPLY_FAILED): State.CLOSED,
    (State.AWAITING_SECOND_REPLY, Trigger.PEER_CONNECTED): State.RELAYING,
    (State.AWAITING_SECOND_REPLY, Trigger.PEER_FAILED): State.CLOSED,
    **{
        (state, Trigger.PROTOCOL_ERROR): State.CLOSED
        for state in State
        if state is not State.CLOSED
    },
}

RECEIVING_STATES: Final = frozenset({State.GREETING, State.AUTHENTICATING, State.REQUEST})
"""States in which the next bytes are a handshake message from the client."""

REPLY_STATES: Final = frozenset({State.REQUEST, State.REPLYING, State.AWAITING_SECOND_REPLY})
"""States in which an error is answered with a SOCKS5 reply code."""


def next_state(state: State, trigger: Trigger) -> State:
    """The state ``trigger`` leads to from ``state``; ``LocalProtocolError`` if illegal."""
    try:
        return TRANSITIONS[state, trigger]
    except KeyError:
        raise LocalProtocolError(f"{trigger.value} is not allowed in state {state.name}") from None
