"""Fuzz the server-side SOCKS5 codec and the UDP datagram header with hostile bytes.

``tests/engine/socks`` already feeds random and spoiled handshakes in random
chunkings. These targets go further: the hostile bytes are aimed at one state
at a time (greeting, RFC 1929 credentials, request, and the bytes a client
pipelines while the server decides), the server answers in every way it may
(each method, failed authentication, failure replies, a BIND that fails its
second reply, a decision held back), and every stream is fed whole, split at
every single boundary, and a byte at a time: the outcome must not change.
A protocol error must close the connection with the bytes its phase calls
for; nothing else may escape. A small buffer bound is never exceeded.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass

from hypothesis import strategies as st

from engine.socks import (
    NEED_DATA,
    AddressType,
    AuthMethod,
    Command,
    Credentials,
    Event,
    Greeting,
    ProtocolError,
    Reply,
    Request,
    ServerConnection,
    SocksAddress,
    State,
    UdpHeader,
    build_datagram,
    parse_datagram,
)
from engine.socks.messages import parse_request
from tests.fuzz.target import Target, attempt

RELAY = SocksAddress.from_ip("198.51.100.1", 40000)
PEER = SocksAddress.from_ip("203.0.113.7", 20)
CLIENT_TURNS = (State.GREETING, State.AUTHENTICATING, State.REQUEST)
ANSWERED_PHASES = {
    State.GREETING: b"",
    State.AUTHENTICATING: b"\x01\x01",
}
EXHAUSTIVE_UP_TO = 96
"""Streams up to this length are also fed split at every boundary (longer: a sample)."""


class Phase(enum.Enum):
    """Where the hostile bytes start: earlier messages are well formed."""

    GREETING = "greeting"
    CREDENTIALS = "credentials"
    REQUEST = "request"
    PIPELINED = "after the request"


@dataclass(frozen=True)
class Server:
    """How the server answers: method preference, password verdict, replies, patience."""

    prefer_password: bool
    refuse_methods: bool
    accept_password: bool
    reply: Reply
    second_reply: Reply
    hold_reply: bool


@dataclass(frozen=True)
class Case:
    """A stream of client bytes and the server that reads it."""

    stream: bytes
    server: Server
    max_buffer: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What a run shows: events, bytes sent, end state, the error if any, bytes relayed."""

    events: tuple[Event, ...]
    sent: bytes
    state: State
    error: tuple[State, Reply | None, bytes] | None
    relayed: bytes


def answer(conn: ServerConnection, server: Server, event: Event) -> bytes:
    """The server's answer to one event, as ``server`` decides it."""
    if isinstance(event, Greeting):
        order = [AuthMethod.USERNAME_PASSWORD, AuthMethod.NO_AUTH]
        if not server.prefer_password:
            order.reverse()
        offered = [method for method in order if method in event.methods]
        if server.refuse_methods or not offered:
            return conn.choose_method(AuthMethod.NO_ACCEPTABLE)
        return conn.choose_method(offered[0])
    if isinstance(event, Credentials):
        return conn.auth_result(server.accept_password)
    return b"" if server.hold_reply else reply(conn, server, event)


def reply(conn: ServerConnection, server: Server, request: Request) -> bytes:
    """The reply (and for BIND the second reply) to ``request``."""
    first = conn.reply(server.reply, RELAY)
    if request.command is Command.BIND and conn.state is State.AWAITING_SECOND_REPLY:
        return first + conn.second_reply(server.second_reply, PEER)
    return first


def drive(case: Case, chunks: list[bytes]) -> Outcome:
    """Feed ``chunks`` to a fresh connection; only ``ProtocolError`` may come out of it."""
    conn = ServerConnection() if case.max_buffer is None else ServerConnection(case.max_buffer)
    events: list[Event] = []
    sent = bytearray()
    relayed = bytearray()
    error = None
    for chunk in chunks:
        if conn.state is State.CLOSED:
            break
        phase = conn.state
        try:
            conn.receive_data(chunk)
            while conn.state in CLIENT_TURNS:
                phase = conn.state
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                events.append(event)
                sent += answer(conn, case.server, event)
        except ProtocolError as exc:
            error = (phase, exc.reply, exc.data_to_send)
            sent += exc.data_to_send
            break
        if conn.state is State.RELAYING:
            relayed += conn.trailing_data()
    if error is None and conn.state is State.REPLYING and case.server.hold_reply:
        request = conn.request
        assert request is not None
        sent += reply(conn, case.server, request)
    if conn.state is State.RELAYING:
        relayed += conn.trailing_data()
    return Outcome(tuple(events), bytes(sent), conn.state, error, bytes(relayed))


def assert_clean(outcome: Outcome) -> None:
    """A protocol error closed the connection and sent what its phase calls for."""
    for event in outcome.events:
        if isinstance(event, Request):
            wire = bytes((5, event.command, 0)) + event.address.pack()
            assert parse_request(wire) == (event, len(wire))
        if isinstance(event, Credentials):
            assert 1 <= len(event.username_bytes) <= 255
            assert 1 <= len(event.password_bytes) <= 255
    if outcome.error is None:
        return
    phase, code, data = outcome.error
    assert outcome.state is State.CLOSED
    if phase in ANSWERED_PHASES:
        assert data == ANSWERED_PHASES[phase]
    elif code is None:
        assert data == b""
    else:
        assert data == bytes((5, code, 0, 1, 0, 0, 0, 0, 0, 0))


def splits(stream: bytes) -> list[list[bytes]]:
    """The stream whole, in two at every boundary (a sample past the bound), a byte at a time."""
    cuts = range(1, len(stream))
    if len(stream) > EXHAUSTIVE_UP_TO:
        cuts = range(1, len(stream), len(stream) // EXHAUSTIVE_UP_TO + 1)
    ways = [[stream], [stream[i : i + 1] for i in range(len(stream))]]
    ways += [[stream[:cut], stream[cut:]] for cut in cuts]
    return ways


def check_handshake(case: Case) -> None:
    """Every way of cutting the stream ends the same, and cleanly."""
    whole = drive(case, [case.stream])
    assert_clean(whole)
    for chunks in splits(case.stream):
        assert drive(case, chunks) == whole


def check_buffer_bound(case: Case) -> None:
    """With a small bound, no chunking makes the codec hold more than the bound."""
    assert case.max_buffer is not None
    for chunks in splits(case.stream):
        outcome = drive(case, chunks)
        assert_clean(outcome)
        if outcome.error is not None and outcome.error[0] not in CLIENT_TURNS:
            assert outcome.error[1] in (None, Reply.GENERAL_FAILURE)


# -- strategies ------------------------------------------------------------------------

ADDRESSES = st.one_of(
    st.builds(SocksAddress.from_ip, st.ip_addresses().map(str), st.integers(0, 0xFFFF)),
    st.builds(
        lambda name, port: SocksAddress(name, port, AddressType.DOMAIN),
        st.text(st.characters(min_codepoint=1, codec="utf-8"), min_size=1, max_size=40).filter(
            lambda name: len(name.encode()) <= 255
        ),
        st.integers(0, 0xFFFF),
    ),
)

LENGTH_BYTES = st.sampled_from([0, 1, 2, 127, 128, 254, 255])


@st.composite
def greetings(draw: st.DrawFn) -> bytes:
    methods = draw(
        st.lists(st.sampled_from([0, 1, 2, 3, 0x80, 0xFE, 0xFF]), min_size=1, max_size=6)
    )
    return bytes((5, len(methods), *methods))


@st.composite
def credentials(draw: st.DrawFn) -> bytes:
    user = draw(st.binary(min_size=1, max_size=12))
    password = draw(st.binary(min_size=1, max_size=12))
    return b"\x01" + bytes((len(user),)) + user + bytes((len(password),)) + password


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    return bytes((5, draw(st.sampled_from(Command)), 0)) + draw(ADDRESSES).pack()


@st.composite
def spoiled(draw: st.DrawFn, piece: bytes) -> bytes:
    """``piece`` with one hostile edit: cut, a byte changed, inserted or dropped, a length lied
    about, doubled, or replaced by junk."""
    how = draw(
        st.sampled_from(["cut", "change", "insert", "drop", "length", "double", "junk", "keep"])
    )
    at = draw(st.integers(0, max(0, len(piece) - 1)))
    if how == "cut":
        return piece[:at]
    if how == "change" and piece:
        return piece[:at] + bytes((draw(st.integers(0, 255)),)) + piece[at + 1 :]
    if how == "insert":
        return piece[:at] + draw(st.binary(min_size=1, max_size=4)) + piece[at:]
    if how == "drop":
        return piece[:at] + piece[at + 1 :]
    if how == "length" and len(piece) > 1:
        at = draw(st.integers(1, min(len(piece) - 1, 4)))
        return piece[:at] + bytes((draw(LENGTH_BYTES),)) + piece[at + 1 :]
    if how == "double":
        return piece + piece
    if how == "junk":
        return draw(st.binary(max_size=40))
    return piece


@st.composite
def cases(draw: st.DrawFn, *, small_buffer: bool = False) -> Case:
    """Well-formed messages before the chosen phase, a spoiled one in it, then the rest."""
    phase = draw(st.sampled_from(Phase))
    password = phase is Phase.CREDENTIALS or draw(st.booleans())
    server = Server(
        prefer_password=password,
        refuse_methods=not password and draw(st.integers(0, 9)) == 0,
        accept_password=draw(st.integers(0, 4)) > 0,
        reply=draw(st.sampled_from([Reply.SUCCEEDED] * 3 + list(Reply))),
        second_reply=draw(st.sampled_from([Reply.SUCCEEDED, Reply.CONNECTION_REFUSED])),
        hold_reply=draw(st.booleans()),
    )
    messages = {
        Phase.GREETING: b"\x05\x01\x02" if password else draw(greetings()),
        Phase.CREDENTIALS: draw(credentials()) if password else b"",
        Phase.REQUEST: draw(requests()),
        Phase.PIPELINED: draw(st.binary(max_size=24)),
    }
    hostile = {
        Phase.GREETING: greetings(),
        Phase.CREDENTIALS: credentials(),
        Phase.REQUEST: requests(),
        Phase.PIPELINED: st.binary(max_size=24),
    }[phase]
    messages[phase] = draw(spoiled(draw(hostile)))
    max_buffer = draw(st.integers(1, 64)) if small_buffer else None
    return Case(b"".join(messages.values()), server, max_buffer)


HANDSHAKE = Target("socks-handshake", cases(), check_handshake)
BUFFER_BOUND = Target("socks-buffer-bound", cases(small_buffer=True), check_buffer_bound)


def test_hostile_bytes_in_every_state_end_alike_in_every_split() -> None:
    HANDSHAKE.run()


def test_a_small_buffer_bound_is_kept_whatever_the_chunking() -> None:
    BUFFER_BOUND.run()


# -- the UDP datagram header -----------------------------------------------------------


@st.composite
def datagrams(draw: st.DrawFn) -> bytes:
    """A well-formed datagram (any FRAG), often with one hostile edit in its header."""
    frag = draw(st.sampled_from([0, 0, 0, 1, 0x7F, 0x80, 0xFF]))
    datagram = bytes((0, 0, frag)) + draw(ADDRESSES).pack() + draw(st.binary(max_size=16))
    header_end = len(datagram) - 16 if len(datagram) > 16 else len(datagram)
    if draw(st.booleans()):
        return datagram
    return draw(spoiled(datagram[:header_end])) + datagram[header_end:]


def check_datagram(datagram: bytes) -> None:
    """A datagram parses to a header that builds back the same bytes, or is dropped silently."""
    parsed = attempt(lambda: parse_datagram(datagram), ProtocolError)
    if isinstance(parsed, ProtocolError):
        assert parsed.reply is None
        assert parsed.data_to_send == b""
        assert "\n" not in str(parsed)
        return
    header, payload = parsed
    assert isinstance(header, UdpHeader)
    assert header.fragmented == (datagram[2] != 0)
    rebuilt = build_datagram(header.address, bytes(payload))
    assert rebuilt[:2] + bytes((datagram[2],)) + rebuilt[3:] == datagram


UDP_HEADER = Target("udp-header", datagrams(), check_datagram)


def test_any_datagram_header_parses_back_exactly_or_is_dropped() -> None:
    UDP_HEADER.run()


def test_the_splits_cover_every_boundary_of_a_short_stream() -> None:
    stream = bytes(range(10))
    ways = splits(stream)
    assert [stream] in ways
    assert [bytes((i,)) for i in range(10)] in ways
    assert all([stream[:cut], stream[cut:]] in ways for cut in range(1, 10))
    assert all(b"".join(way) == stream for way in itertools.chain(ways))


TARGETS = (HANDSHAKE, BUFFER_BOUND, UDP_HEADER)
