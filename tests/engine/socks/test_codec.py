"""Byte-level tests of the server-side SOCKS5 codec (RFC 1928, RFC 1929), no sockets."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.socks import (
    MAX_REQUEST,
    NEED_DATA,
    AuthMethod,
    Command,
    Credentials,
    Event,
    Greeting,
    LocalProtocolError,
    ProtocolError,
    Reply,
    Request,
    ServerConnection,
    SocksAddress,
    State,
)
from engine.socks.messages import AddressType

GREET_NO_AUTH = b"\x05\x01\x00"
GREET_PASSWORD = b"\x05\x01\x02"
CONNECT_V4 = b"\x05\x01\x00\x01\xc0\x00\x02\x0a\x00\x50"  # CONNECT 192.0.2.10:80
BIND_ZERO = b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00"  # BIND 0.0.0.0:0
UDP_ZERO = b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00"  # UDP ASSOCIATE 0.0.0.0:0
RELAY = SocksAddress.from_ip("198.51.100.1", 40000)
PEER = SocksAddress.from_ip("203.0.113.7", 20)
RELAY_PACKED = b"\x01\xc6\x33\x64\x01\x9c\x40"
PEER_PACKED = b"\x01\xcb\x00\x71\x07\x00\x14"
ZERO_REPLY_TAIL = b"\x01\x00\x00\x00\x00\x00\x00"


def credentials(user: bytes, password: bytes) -> bytes:
    """An RFC 1929 request as a client writes it."""
    return b"\x01" + bytes((len(user),)) + user + bytes((len(password),)) + password


def feed(conn: ServerConnection, data: bytes) -> Event:
    """Feed ``data`` and return the one event it completes."""
    conn.receive_data(data)
    event = conn.next_event()
    assert event is not NEED_DATA
    return event


def at_request(data: bytes = b"") -> ServerConnection:
    """A connection that chose no authentication and has received ``data``."""
    conn = ServerConnection()
    feed(conn, GREET_NO_AUTH)
    conn.choose_method(AuthMethod.NO_AUTH)
    conn.receive_data(data)
    return conn


def request_error(data: bytes) -> ProtocolError:
    """The error a connection raises for the request ``data``."""
    conn = at_request(data)
    with pytest.raises(ProtocolError) as caught:
        conn.next_event()
    assert conn.state is State.CLOSED
    return caught.value


# Greeting and method selection


def test_greeting_with_no_auth_then_request_state() -> None:
    conn = ServerConnection()
    assert feed(conn, GREET_NO_AUTH) == Greeting(frozenset({0}))
    assert conn.state is State.CHOOSING_METHOD
    assert conn.choose_method(AuthMethod.NO_AUTH) == b"\x05\x00"
    assert conn.state is State.REQUEST
    assert conn.method is AuthMethod.NO_AUTH


def test_greeting_keeps_unknown_methods() -> None:
    conn = ServerConnection()
    assert feed(conn, b"\x05\x03\x01\x02\x80") == Greeting(frozenset({1, 2, 0x80}))


def test_greeting_without_methods_is_refused_with_ff() -> None:
    conn = ServerConnection()
    assert feed(conn, b"\x05\x00") == Greeting(frozenset())
    assert conn.choose_method(AuthMethod.NO_ACCEPTABLE) == b"\x05\xff"
    assert conn.state is State.CLOSED


def test_greeting_of_socks4_is_closed_without_reply() -> None:
    conn = ServerConnection()
    conn.receive_data(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")
    with pytest.raises(ProtocolError) as caught:
        conn.next_event()
    assert caught.value.reply is None
    assert caught.value.data_to_send == b""
    assert conn.state is State.CLOSED


def test_bad_version_is_refused_on_its_first_byte() -> None:
    conn = ServerConnection()
    conn.receive_data(b"G")
    with pytest.raises(ProtocolError, match="version 71 is not 5"):
        conn.next_event()


def test_choosing_a_method_not_offered_is_a_local_error_and_changes_nothing() -> None:
    conn = ServerConnection()
    feed(conn, GREET_NO_AUTH)
    with pytest.raises(LocalProtocolError, match="USERNAME_PASSWORD"):
        conn.choose_method(AuthMethod.USERNAME_PASSWORD)
    assert conn.state is State.CHOOSING_METHOD


def test_choose_method_before_greeting_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="GREETING"):
        ServerConnection().choose_method(AuthMethod.NO_AUTH)


def test_greeting_arriving_byte_by_byte_needs_data_until_complete() -> None:
    conn = ServerConnection()
    message = b"\x05\x02\x00\x02"
    for byte in message[:-1]:
        conn.receive_data(bytes((byte,)))
        assert conn.next_event() is NEED_DATA
    assert feed(conn, message[-1:]) == Greeting(frozenset({0, 2}))


# RFC 1929 sub-negotiation


def password_conn() -> ServerConnection:
    conn = ServerConnection()
    feed(conn, GREET_PASSWORD)
    assert conn.choose_method(AuthMethod.USERNAME_PASSWORD) == b"\x05\x02"
    assert conn.state is State.AUTHENTICATING
    return conn


def test_r105_successful_authentication_leads_to_request() -> None:
    """R105: a successful RFC 1929 exchange answers 01 00 and goes on to the request."""
    conn = password_conn()
    assert feed(conn, credentials(b"alice", b"s3cret")) == Credentials("alice", "s3cret")
    assert conn.state is State.VERIFYING
    assert conn.auth_result(True) == b"\x01\x00"
    assert conn.state is State.REQUEST


def test_r105_failed_authentication_answers_01_01_and_closes() -> None:
    """R105: an RFC 1929 failure answers a non-zero status and closes the connection."""
    conn = password_conn()
    feed(conn, credentials(b"alice", b"wrong"))
    assert conn.auth_result(False) == b"\x01\x01"
    assert conn.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.receive_data(CONNECT_V4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x05\x05alice\x06s3cret", "version 5 is not 1"),
        (b"\x01\x00\x06s3cret", "empty user name"),
        (b"\x01\x05alice\x00", "empty password"),
    ],
)
def test_malformed_credentials_answer_failure_status(data: bytes, message: str) -> None:
    conn = password_conn()
    conn.receive_data(data)
    with pytest.raises(ProtocolError, match=message) as caught:
        conn.next_event()
    assert caught.value.data_to_send == b"\x01\x01"
    assert caught.value.reply is None
    assert conn.state is State.CLOSED


def test_credentials_of_255_bytes_each_and_any_bytes_survive() -> None:
    user = bytes(range(1, 256))
    password = b"\xff" * 255
    event = feed(password_conn(), credentials(user, password))
    assert isinstance(event, Credentials)
    assert event.username_bytes == user
    assert event.password_bytes == password


def test_auth_result_before_credentials_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="AUTHENTICATING"):
        password_conn().auth_result(True)


# Requests and replies


@pytest.mark.parametrize(
    ("data", "address"),
    [
        (CONNECT_V4, SocksAddress("192.0.2.10", 80, AddressType.IPV4)),
        (
            b"\x05\x01\x00\x04" + bytes(15) + b"\x01\x01\xbb",
            SocksAddress("::1", 443, AddressType.IPV6),
        ),
        (
            b"\x05\x01\x00\x03\x0bexample.org\x00\x50",
            SocksAddress("example.org", 80, AddressType.DOMAIN),
        ),
    ],
)
def test_connect_request_for_each_address_type(data: bytes, address: SocksAddress) -> None:
    conn = at_request(data)
    assert conn.next_event() == Request(Command.CONNECT, address)
    assert conn.state is State.REPLYING
    assert conn.request == Request(Command.CONNECT, address)


def test_connect_success_reply_names_the_bound_address_then_relays() -> None:
    conn = at_request(CONNECT_V4)
    conn.next_event()
    assert conn.reply(Reply.SUCCEEDED, RELAY) == b"\x05\x00\x00" + RELAY_PACKED
    assert conn.state is State.RELAYING


def test_connect_reply_without_address_sends_zero_address() -> None:
    conn = at_request(CONNECT_V4)
    conn.next_event()
    assert conn.reply(Reply.SUCCEEDED) == b"\x05\x00\x00" + ZERO_REPLY_TAIL


@pytest.mark.parametrize("code", [code for code in Reply if code is not Reply.SUCCEEDED])
def test_failure_reply_carries_its_code_and_closes(code: Reply) -> None:
    conn = at_request(CONNECT_V4)
    conn.next_event()
    assert conn.reply(code) == bytes((5, code, 0)) + ZERO_REPLY_TAIL
    assert conn.state is State.CLOSED


def test_reply_codes_have_the_rfc_1928_values() -> None:
    assert [code.value for code in Reply] == list(range(9))


def test_request_split_at_every_byte_gives_the_same_request() -> None:
    data = b"\x05\x01\x00\x03\x0bexample.org\x00\x50"
    for cut in range(1, len(data)):
        conn = at_request(data[:cut])
        assert conn.next_event() is NEED_DATA
        assert feed(conn, data[cut:]) == Request(
            Command.CONNECT, SocksAddress("example.org", 80, AddressType.DOMAIN)
        )


def test_longest_request_is_max_request_bytes() -> None:
    data = b"\x05\x01\x00\x03\xff" + b"a" * 255 + b"\x00\x50"
    assert len(data) == MAX_REQUEST
    conn = at_request(data[:-1])
    assert conn.next_event() is NEED_DATA
    event = feed(conn, data[-1:])
    assert isinstance(event, Request)
    assert event.address.host == "a" * 255


# BIND: two replies


def test_bind_with_zero_destination_is_accepted() -> None:
    assert at_request(BIND_ZERO).next_event() == Request(
        Command.BIND, SocksAddress("0.0.0.0", 0, AddressType.IPV4)
    )


def test_bind_with_clients_own_address_and_port_zero_is_accepted() -> None:
    data = b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x00"
    assert at_request(data).next_event() == Request(
        Command.BIND, SocksAddress("127.0.0.1", 0, AddressType.IPV4)
    )


def test_bind_first_reply_waits_for_the_second_then_relays() -> None:
    conn = at_request(BIND_ZERO)
    conn.next_event()
    assert conn.reply(Reply.SUCCEEDED, RELAY) == b"\x05\x00\x00" + RELAY_PACKED
    assert conn.state is State.AWAITING_SECOND_REPLY
    assert conn.second_reply(Reply.SUCCEEDED, PEER) == b"\x05\x00\x00" + PEER_PACKED
    assert conn.state is State.RELAYING


def test_bind_second_reply_may_report_failure_and_close() -> None:
    conn = at_request(BIND_ZERO)
    conn.next_event()
    conn.reply(Reply.SUCCEEDED, RELAY)
    assert conn.second_reply(Reply.GENERAL_FAILURE) == b"\x05\x01\x00" + ZERO_REPLY_TAIL
    assert conn.state is State.CLOSED


def test_bind_needs_second_reply_not_another_reply() -> None:
    conn = at_request(BIND_ZERO)
    conn.next_event()
    conn.reply(Reply.SUCCEEDED, RELAY)
    with pytest.raises(LocalProtocolError, match="AWAITING_SECOND_REPLY"):
        conn.reply(Reply.SUCCEEDED, PEER)


def test_second_reply_for_connect_is_a_local_error() -> None:
    conn = at_request(CONNECT_V4)
    conn.next_event()
    conn.reply(Reply.SUCCEEDED, RELAY)
    with pytest.raises(LocalProtocolError, match="RELAYING"):
        conn.second_reply(Reply.SUCCEEDED, PEER)


@pytest.mark.parametrize(
    "address",
    [None, SocksAddress.from_ip("0.0.0.0", 1080), SocksAddress.from_ip("198.51.100.1", 0)],
)
@pytest.mark.parametrize("request_bytes", [BIND_ZERO, UDP_ZERO])
def test_bind_and_udp_success_need_a_concrete_address(
    request_bytes: bytes, address: SocksAddress | None
) -> None:
    conn = at_request(request_bytes)
    conn.next_event()
    with pytest.raises(LocalProtocolError, match="concrete address"):
        conn.reply(Reply.SUCCEEDED, address)
    assert conn.state is State.REPLYING


def test_second_reply_success_needs_the_peer_address() -> None:
    conn = at_request(BIND_ZERO)
    conn.next_event()
    conn.reply(Reply.SUCCEEDED, RELAY)
    with pytest.raises(LocalProtocolError, match="concrete address"):
        conn.second_reply(Reply.SUCCEEDED)
    assert conn.state is State.AWAITING_SECOND_REPLY


# UDP ASSOCIATE


def test_udp_associate_with_all_zero_destination_names_the_relay() -> None:
    conn = at_request(UDP_ZERO)
    event = conn.next_event()
    assert event == Request(Command.UDP_ASSOCIATE, SocksAddress("0.0.0.0", 0, AddressType.IPV4))
    assert conn.reply(Reply.SUCCEEDED, RELAY) == b"\x05\x00\x00" + RELAY_PACKED
    assert conn.state is State.RELAYING


def test_udp_associate_with_ipv6_zero_destination_is_accepted() -> None:
    event = at_request(b"\x05\x03\x00\x04" + bytes(18)).next_event()
    assert isinstance(event, Request)
    assert event.address.is_unspecified


# Malformed requests: the reply code says why


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (b"\x05\x04\x00\x01\x7f\x00\x00\x01\x00\x50", Reply.COMMAND_NOT_SUPPORTED),
        (b"\x05\x00", Reply.COMMAND_NOT_SUPPORTED),
        (b"\x05\x01\x00\x02\x7f\x00\x00\x01\x00\x50", Reply.ADDRESS_TYPE_NOT_SUPPORTED),
        (b"\x05\x01\x00\x05", Reply.ADDRESS_TYPE_NOT_SUPPORTED),
        (b"\x05\x01\x01\x01\x7f\x00\x00\x01\x00\x50", Reply.GENERAL_FAILURE),
        (b"\x05\x01\x00\x03\x00\x00\x50", Reply.GENERAL_FAILURE),
        (b"\x05\x01\x00\x03\x02\xc3\x28\x00\x50", Reply.GENERAL_FAILURE),
        (b"\x05\x01\x00\x03\x03a\x00b\x00\x50", Reply.GENERAL_FAILURE),
    ],
    ids=[
        "unknown-command",
        "command-zero",
        "unknown-atyp",
        "atyp-refused-before-address",
        "reserved-byte",
        "empty-domain",
        "domain-not-utf8",
        "domain-with-nul",
    ],
)
def test_malformed_request_is_answered_with_its_reply(data: bytes, reply: Reply) -> None:
    error = request_error(data)
    assert error.reply is reply
    assert error.data_to_send == bytes((5, reply, 0)) + ZERO_REPLY_TAIL
    assert "\n" not in str(error)


def test_request_with_wrong_version_is_closed_without_reply() -> None:
    error = request_error(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")
    assert error.reply is None
    assert error.data_to_send == b""


# Pipelining and trailing data


def test_pipelined_greeting_request_and_payload_lose_nothing() -> None:
    conn = ServerConnection()
    conn.receive_data(GREET_NO_AUTH + CONNECT_V4 + b"GET / HTTP/1.0\r\n\r\n")
    assert conn.next_event() == Greeting(frozenset({0}))
    conn.choose_method(AuthMethod.NO_AUTH)
    assert isinstance(conn.next_event(), Request)
    conn.receive_data(b"more")
    conn.reply(Reply.SUCCEEDED, RELAY)
    assert conn.trailing_data() == b"GET / HTTP/1.0\r\n\r\nmore"
    assert conn.trailing_data() == b""


def test_pipelined_credentials_and_request_are_read_in_turn() -> None:
    conn = ServerConnection()
    conn.receive_data(GREET_PASSWORD + credentials(b"bob", b"pw") + BIND_ZERO)
    conn.next_event()
    conn.choose_method(AuthMethod.USERNAME_PASSWORD)
    assert conn.next_event() == Credentials("bob", "pw")
    conn.auth_result(True)
    assert conn.next_event() == Request(Command.BIND, SocksAddress("0.0.0.0", 0, AddressType.IPV4))
    assert conn.trailing_data() == b""


def test_trailing_data_before_the_request_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="REQUEST"):
        at_request(CONNECT_V4).trailing_data()


def test_next_event_on_the_servers_turn_is_a_local_error() -> None:
    conn = at_request(CONNECT_V4 + CONNECT_V4)
    conn.next_event()
    with pytest.raises(LocalProtocolError, match="REPLYING"):
        conn.next_event()


# Size limits


def test_buffer_limit_in_greeting_closes_without_reply() -> None:
    conn = ServerConnection(max_buffer=64)
    conn.receive_data(b"\x05" * 64)
    with pytest.raises(ProtocolError, match="more than 64 bytes") as caught:
        conn.receive_data(b"\x05")
    assert caught.value.data_to_send == b""
    assert conn.state is State.CLOSED


def test_buffer_limit_while_replying_answers_general_failure() -> None:
    conn = ServerConnection(max_buffer=64)
    conn.receive_data(GREET_NO_AUTH)
    conn.next_event()
    conn.choose_method(AuthMethod.NO_AUTH)
    conn.receive_data(CONNECT_V4)
    conn.next_event()
    with pytest.raises(ProtocolError) as caught:
        conn.receive_data(bytes(65))
    assert caught.value.reply is Reply.GENERAL_FAILURE
    assert caught.value.data_to_send == b"\x05\x01\x00" + ZERO_REPLY_TAIL


def test_buffer_limit_while_choosing_method_refuses_every_method() -> None:
    conn = ServerConnection(max_buffer=8)
    conn.receive_data(GREET_NO_AUTH)
    conn.next_event()
    with pytest.raises(ProtocolError) as caught:
        conn.receive_data(bytes(9))
    assert caught.value.data_to_send == b"\x05\xff"


def test_buffer_limit_during_authentication_answers_failure_status() -> None:
    conn = ServerConnection(max_buffer=8)
    feed(conn, GREET_PASSWORD)
    conn.choose_method(AuthMethod.USERNAME_PASSWORD)
    with pytest.raises(ProtocolError) as caught:
        conn.receive_data(bytes(9))
    assert caught.value.data_to_send == b"\x01\x01"


# Properties: well-formed requests round-trip; one bad field gets its reply

ADDRESSES = st.one_of(
    st.builds(
        lambda ip, port: SocksAddress.from_ip(str(ip), port),
        st.ip_addresses(),
        st.integers(0, 0xFFFF),
    ),
    st.builds(
        lambda name, port: SocksAddress(name, port, AddressType.DOMAIN),
        st.text(st.characters(min_codepoint=1, codec="utf-8"), min_size=1, max_size=60).filter(
            lambda name: len(name.encode()) <= 255
        ),
        st.integers(0, 0xFFFF),
    ),
)


@given(st.sampled_from(Command), ADDRESSES)
def test_every_well_formed_request_is_read_back(command: Command, address: SocksAddress) -> None:
    conn = at_request(bytes((5, command, 0)) + address.pack())
    assert conn.next_event() == Request(command, address)


@given(st.integers(0, 255).filter(lambda cmd: cmd not in (1, 2, 3)), ADDRESSES)
def test_any_unknown_command_gets_command_not_supported(cmd: int, address: SocksAddress) -> None:
    assert request_error(bytes((5, cmd, 0)) + address.pack()).reply is Reply.COMMAND_NOT_SUPPORTED


@given(st.integers(0, 255).filter(lambda atyp: atyp not in (1, 3, 4)), st.binary(max_size=20))
def test_any_unknown_address_type_gets_its_reply(atyp: int, rest: bytes) -> None:
    error = request_error(bytes((5, 1, 0, atyp)) + rest)
    assert error.reply is Reply.ADDRESS_TYPE_NOT_SUPPORTED


@given(st.integers(1, 255), ADDRESSES)
def test_any_nonzero_reserved_byte_gets_general_failure(rsv: int, address: SocksAddress) -> None:
    assert request_error(bytes((5, 1, rsv)) + address.pack()).reply is Reply.GENERAL_FAILURE


# Hostile input: any bytes in any chunking end in events, NEED_DATA or a ProtocolError


def _respond(conn: ServerConnection, event: Event) -> bytes:
    """A plausible server: prefer no auth, accept any password but "wrong", grant requests."""
    if isinstance(event, Greeting):
        for method in (AuthMethod.NO_AUTH, AuthMethod.USERNAME_PASSWORD):
            if method in event.methods:
                return conn.choose_method(method)
        return conn.choose_method(AuthMethod.NO_ACCEPTABLE)
    if isinstance(event, Credentials):
        return conn.auth_result(event.password != "wrong")
    first = conn.reply(Reply.SUCCEEDED, RELAY)
    if event.command is Command.BIND:
        return first + conn.second_reply(Reply.SUCCEEDED, PEER)
    return first


@dataclass(frozen=True)
class Failure:
    """A protocol error as the server saw it: in which phase, its reply and what to send."""

    phase: State
    reply: Reply | None
    data_to_send: bytes

    def is_answered_right(self) -> bool:
        """The bytes fit the phase: nothing, an RFC 1929 failure, or a reply with the code."""
        if self.phase is State.AUTHENTICATING:
            return self.reply is None and self.data_to_send == b"\x01\x01"
        if self.phase is State.REQUEST and self.reply is not None:
            return self.data_to_send == bytes((5, self.reply, 0)) + ZERO_REPLY_TAIL
        return self.reply is None and self.data_to_send == b""


@dataclass(frozen=True)
class Outcome:
    """Everything a run shows: events, bytes the server sent, last state, any failure."""

    events: tuple[Event, ...]
    sent: bytes
    state: State
    failure: Failure | None


def run_stream(chunks: list[bytes]) -> Outcome:
    """Feed ``chunks`` to a connection driven by ``_respond``.

    Bytes left buffered once relaying are appended to ``sent``, as a relay would
    forward them.
    """
    conn = ServerConnection()
    events: list[Event] = []
    sent = b""
    failure = None
    for chunk in chunks:
        if conn.state is State.CLOSED:
            break
        conn.receive_data(chunk)
        while conn.state in (State.GREETING, State.AUTHENTICATING, State.REQUEST):
            phase = conn.state
            try:
                event = conn.next_event()
            except ProtocolError as error:
                failure = Failure(phase, error.reply, error.data_to_send)
                break
            if event is NEED_DATA:
                break
            events.append(event)
            sent += _respond(conn, event)
    if conn.state is State.RELAYING:
        sent += conn.trailing_data()
    return Outcome(tuple(events), sent, conn.state, failure)


def assert_ended_cleanly(outcome: Outcome) -> None:
    """A failure closed the connection and told the client the right thing."""
    if outcome.failure is not None:
        assert outcome.state is State.CLOSED
        assert outcome.failure.is_answered_right()


@st.composite
def _handshake_pieces(draw: st.DrawFn) -> list[bytes]:
    """A client's greeting, perhaps credentials, a request and payload, as separate pieces."""
    password = draw(st.booleans())
    others = draw(st.lists(st.sampled_from([1, 0x80, 0xFF]), max_size=3))
    methods = draw(st.permutations([2 if password else 0, *others]))
    pieces = [bytes((5, len(methods), *methods))]
    if password:
        user = draw(st.binary(min_size=1, max_size=8))
        pieces.append(credentials(user, draw(st.sampled_from([b"pw", b"wrong", b"\xff\xfe"]))))
    pieces.append(bytes((5, draw(st.sampled_from(Command)), 0)) + draw(ADDRESSES).pack())
    pieces.append(draw(st.binary(max_size=16)))
    return pieces


@st.composite
def _spoiled(draw: st.DrawFn, piece: bytes) -> bytes:
    """``piece`` kept, cut short, with one byte changed, or replaced by junk."""
    how = draw(st.sampled_from(["keep", "keep", "cut", "change", "junk"]))
    if how == "keep" or not piece:
        return piece
    if how == "cut":
        return piece[: draw(st.integers(0, len(piece) - 1))]
    if how == "change":
        at = draw(st.integers(0, len(piece) - 1))
        return piece[:at] + bytes((draw(st.integers(0, 255)),)) + piece[at + 1 :]
    return draw(st.binary(max_size=24))


@st.composite
def hostile_streams(draw: st.DrawFn) -> bytes:
    """Handshakes with pieces cut, changed or replaced by junk, or junk alone."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=64))
    return b"".join(draw(_spoiled(piece)) for piece in draw(_handshake_pieces()))


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=8)))
    bounds = [0, *(cut for cut in cuts if cut < len(data)), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


@given(st.data())
def test_hostile_stream_in_any_chunking_ends_cleanly_and_alike(data: st.DataObject) -> None:
    stream = data.draw(hostile_streams())
    chunks = data.draw(chunkings(stream))
    assert b"".join(chunks) == stream
    outcome = run_stream(chunks)
    assert_ended_cleanly(outcome)
    assert outcome == run_stream([stream])


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_random_bytes_after_a_good_start_end_cleanly(greeting_junk: bytes, tail: bytes) -> None:
    assert_ended_cleanly(run_stream([GREET_NO_AUTH + greeting_junk, tail]))
    assert_ended_cleanly(run_stream([GREET_PASSWORD + greeting_junk, tail]))
