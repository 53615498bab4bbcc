"""The server side of a SOCKS5 connection, sans-I/O (RFC 1928, RFC 1929).

The shell feeds what it reads to ``receive_data`` and asks ``next_event`` for
the client's messages (``Greeting``, ``Credentials``, ``Request``) until it
gets ``NEED_DATA``. It answers with ``choose_method``, ``auth_result``,
``reply`` and, for BIND, ``second_reply``; each returns the bytes to write and
moves the state along ``states.TRANSITIONS``. A malformed message raises
``ProtocolError`` whose ``data_to_send`` the shell writes before closing.

Bytes the client pipelined after its request are kept, not parsed: once the
request has been read, ``trailing_data`` hands them over for the relay. The
shell should stop reading while it decides on a request; until then at most
``max_buffer`` bytes are held, and more is a protocol error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from engine.socks.messages import (
    AUTH_FAILURE,
    AUTH_SUCCESS,
    MAX_CREDENTIALS,
    MAX_GREETING,
    MAX_REQUEST,
    NEED_DATA,
    ZERO_ADDRESS,
    AuthMethod,
    Buffer,
    Command,
    Event,
    Greeting,
    NeedData,
    ProtocolError,
    Reply,
    Request,
    SocksAddress,
    pack_method,
    pack_reply,
    parse_credentials,
    parse_greeting,
    parse_request,
)
from engine.socks.states import (
    REPLY_STATES,
    LocalProtocolError,
    State,
    Trigger,
    next_state,
)

__all__ = ["DEFAULT_MAX_BUFFER", "MAX_HANDSHAKE", "ServerConnection"]

MAX_HANDSHAKE: Final = MAX_GREETING + MAX_CREDENTIALS + MAX_REQUEST
"""The most a client can pipeline before its request is complete."""

DEFAULT_MAX_BUFFER: Final = MAX_HANDSHAKE + 256 * 1024
"""Room for a whole handshake plus one 256 KiB read (asyncio's largest) of pipelined payload."""

_Parser = Callable[[Buffer], tuple[Event, int] | None]

_PARSERS: Final[dict[State, tuple[_Parser, Trigger]]] = {
    State.GREETING: (parse_greeting, Trigger.GREETING_RECEIVED),
    State.AUTHENTICATING: (parse_credentials, Trigger.CREDENTIALS_RECEIVED),
    State.REQUEST: (parse_request, Trigger.REQUEST_RECEIVED),
}

_METHOD_TRIGGERS: Final = {
    AuthMethod.NO_AUTH: Trigger.CHOSE_NO_AUTH,
    AuthMethod.USERNAME_PASSWORD: Trigger.CHOSE_PASSWORD,
    AuthMethod.NO_ACCEPTABLE: Trigger.CHOSE_NONE,
}

_TRAILING_STATES: Final = frozenset({State.REPLYING, State.AWAITING_SECOND_REPLY, State.RELAYING})


class ServerConnection:
    """One client's SOCKS5 control connection, from greeting to relay."""

    def __init__(self, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self._state = State.GREETING
        self._buffer = bytearray()
        self._max_buffer = max_buffer
        self._offered: frozenset[int] = frozenset()
        self._method: AuthMethod | None = None
        self._request: Request | None = None

    @property
    def state(self) -> State:
        """Where the connection is (see ``states.State``)."""
        return self._state

    @property
    def method(self) -> AuthMethod | None:
        """The method the server chose, once it has."""
        return self._method

    @property
    def request(self) -> Request | None:
        """The client's request, once received."""
        return self._request

    def receive_data(self, data: Buffer) -> None:
        """Buffer bytes read from the client; past ``max_buffer`` it is a protocol error."""
        if self._state is State.CLOSED:
            raise LocalProtocolError("receive_data() on a closed connection")
        if len(self._buffer) + len(data) > self._max_buffer:
            reply = Reply.GENERAL_FAILURE if self._state in REPLY_STATES else None
            raise self._fail(ProtocolError(f"more than {self._max_buffer} bytes buffered", reply))
        self._buffer += data

    def next_event(self) -> Event | NeedData:
        """The client's next handshake message, or ``NEED_DATA`` until it is complete.

        Legal only while it is the client's turn (``GREETING``, ``AUTHENTICATING``,
        ``REQUEST``); raises ``ProtocolError`` for malformed input.
        """
        entry = _PARSERS.get(self._state)
        if entry is None:
            raise LocalProtocolError(f"next_event() in state {self._state.name}")
        parser, trigger = entry
        try:
            parsed = parser(self._buffer)
        except ProtocolError as exc:
            raise self._fail(exc) from None
        if parsed is None:
            return NEED_DATA
        event, size = parsed
        del self._buffer[:size]
        self._state = next_state(self._state, trigger)
        if isinstance(event, Greeting):
            self._offered = event.methods
        elif isinstance(event, Request):
            self._request = event
        return event

    def choose_method(self, method: AuthMethod) -> bytes:
        """Answer the greeting; ``NO_ACCEPTABLE`` refuses the client and closes.

        A method the client did not offer is a ``LocalProtocolError``.
        """
        new_state = next_state(self._state, _METHOD_TRIGGERS[method])
        if method is not AuthMethod.NO_ACCEPTABLE and method not in self._offered:
            raise LocalProtocolError(f"the client did not offer {method.name}")
        self._state = new_state
        self._method = method
        return pack_method(method)

    def auth_result(self, ok: bool) -> bytes:
        """Answer the credentials (RFC 1929); a failure closes."""
        trigger = Trigger.AUTH_SUCCEEDED if ok else Trigger.AUTH_FAILED
        self._state = next_state(self._state, trigger)
        return AUTH_SUCCESS if ok else AUTH_FAILURE

    def reply(self, code: Reply, address: SocksAddress | None = None) -> bytes:
        """The (first) reply to the request; a failure closes.

        ``address`` is ``BND.ADDR:PORT``: the outgoing socket's local address for
        CONNECT (``0.0.0.0:0`` when omitted), the listening address for BIND and
        the relay's address for UDP ASSOCIATE; a success for the last two needs
        a concrete address and port. A BIND success waits for ``second_reply``.
        """
        command = self._request.command if self._request is not None else None
        if code is not Reply.SUCCEEDED:
            trigger = Trigger.REPLY_FAILED
        elif command is Command.BIND:
            trigger = Trigger.BIND_LISTENING
        else:
            trigger = Trigger.REPLY_SUCCEEDED
        new_state = next_state(self._state, trigger)
        if code is Reply.SUCCEEDED and command is not Command.CONNECT:
            _require_concrete(address, "a successful BIND or UDP ASSOCIATE reply")
        self._state = new_state
        return pack_reply(code, address or ZERO_ADDRESS)

    def second_reply(self, code: Reply, address: SocksAddress | None = None) -> bytes:
        """The second BIND reply: success names the peer that connected, then relay."""
        trigger = Trigger.PEER_CONNECTED if code is Reply.SUCCEEDED else Trigger.PEER_FAILED
        new_state = next_state(self._state, trigger)
        if code is Reply.SUCCEEDED:
            _require_concrete(address, "a successful second BIND reply")
        self._state = new_state
        return pack_reply(code, address or ZERO_ADDRESS)

    def trailing_data(self) -> bytes:
        """Hand over (and forget) the bytes the client sent after its request."""
        if self._state not in _TRAILING_STATES:
            raise LocalProtocolError(f"trailing_data() in state {self._state.name}")
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def _fail(self, error: ProtocolError) -> ProtocolError:
        """Close on a protocol error, filling in what to send first for this phase."""
        error.data_to_send = _error_response(self._state, error.reply)
        self._state = next_state(self._state, Trigger.PROTOCOL_ERROR)
        self._buffer.clear()
        return error


def _error_response(state: State, reply: Reply | None) -> bytes:
    """The bytes that answer a protocol error in ``state`` before the close."""
    if state is State.CHOOSING_METHOD:
        return pack_method(AuthMethod.NO_ACCEPTABLE)
    if state in (State.AUTHENTICATING, State.VERIFYING):
        return AUTH_FAILURE
    if reply is None or state not in REPLY_STATES:
        return b""
    return pack_reply(reply, ZERO_ADDRESS)


def _require_concrete(address: SocksAddress | None, what: str) -> None:
    """Refuse a missing, unspecified or port-0 address where the client needs a real one."""
    if address is None or address.is_unspecified or address.port == 0:
        raise LocalProtocolError(f"{what} needs a concrete address, not {address}")
