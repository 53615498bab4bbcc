"""Fuzz the FTP control-channel parsers and the line splitter with near-valid input.

``tests/engine/filters`` feeds the parsers random bytes and random text, and
the splitter random cuts at its default bound. Random bytes rarely come close
to a ``PORT`` argument; these targets start from well-formed commands and
replies (``PORT``, ``EPRT``, ``227``, ``229``) and spoil them the way a
hostile client or server would: non-ASCII digits, numbers past 255 or 65535,
leading zeros, signs, extra fields, zone ids, IPv4-mapped IPv6, odd
delimiters and line ends. What a parser accepts must be an endpoint that
formats and parses back to itself. The splitter runs with tiny bounds and
every split of its input.
"""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from engine.filters.ftp_codec import (
    format_eprt,
    format_port,
    parse_227,
    parse_229,
    parse_command,
    parse_eprt,
    parse_port,
    parse_reply,
)
from engine.filters.lines import LineSplitter
from tests.fuzz.target import Target

BYTE = st.integers(0, 255).map(str)
BAD_NUMBERS = st.sampled_from(
    [
        *("256", "999", "0000", "-1", "+1", "65536", "99999999999999999999", "\uff11"),
        *("\u0663", "\u00b2", "1\u200b", " 1", "1 ", "0x1", "1.0", ""),
    ]
)
HOSTS = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["::ffff:10.0.0.1", "fe80::1%eth0", "1.2.3", "1.2.3.4.5", "::1::", "[::1]"]),
    st.text(max_size=12),
)
PORT = st.integers(0, 65535).map(str)
BAD_PORTS = st.sampled_from(["65536", "00021", "-21", "\uff12\uff11", "21 ", "999999", ""])
DELIMITERS = st.one_of(st.sampled_from("|!#$%^&*()~"), st.characters(max_codepoint=0x2FF))
ENDINGS = st.sampled_from([b"\r\n", b"\n", b"", b"\r", b"\r\r\n", b"\x00\n"])


@st.composite
def port_arguments(draw: st.DrawFn) -> str:
    """Six numbers, often with one spoiled, one too many or too few, or an odd separator."""
    numbers = draw(st.lists(BYTE, min_size=6, max_size=6))
    spoil = draw(st.sampled_from(["none", "none", "number", "more", "fewer", "separator"]))
    if spoil == "number":
        numbers[draw(st.integers(0, 5))] = draw(BAD_NUMBERS)
    elif spoil == "more":
        numbers.append(draw(BYTE))
    elif spoil == "fewer":
        numbers.pop()
    separator = ","
    if spoil == "separator":
        separator = draw(st.sampled_from([", ", " ,", ";", ".", ",,"]))
    return separator.join(numbers)


@st.composite
def eprt_arguments(draw: st.DrawFn) -> str:
    """``<d>family<d>host<d>port<d>`` with any delimiter, often with one field spoiled."""
    delimiter = draw(DELIMITERS)
    host = draw(HOSTS)
    family = "2" if ":" in host else "1"
    if draw(st.integers(0, 4)) == 0:
        family = draw(st.sampled_from(["1", "2", "3", "", "01"]))
    port = draw(st.one_of(PORT, PORT, PORT, BAD_PORTS))
    fields = ["", family, host, port, ""]
    if draw(st.integers(0, 5)) == 0:
        fields.insert(draw(st.integers(0, len(fields))), draw(st.text(max_size=4)))
    return delimiter.join(fields)


@st.composite
def command_lines(draw: st.DrawFn) -> bytes:
    verb = draw(st.sampled_from(["PORT", "EPRT", "port", "Eprt", "PORTX", "PO", "P0RT", "LIST"]))
    argument = draw(st.one_of(port_arguments(), eprt_arguments(), st.text(max_size=20)))
    space = draw(st.sampled_from([" ", " ", "  ", "\t", ""]))
    text = f"{verb}{space}{argument}".encode("utf-8", "surrogatepass")
    return text + draw(ENDINGS)


@st.composite
def reply_lines(draw: st.DrawFn) -> bytes:
    code = draw(st.sampled_from(["227", "229", "150", "227-", "229-", "600", "099", "22", "2277"]))
    delimiter = draw(DELIMITERS)
    text = draw(
        st.one_of(
            port_arguments().map(lambda argument: f" Entering Passive Mode ({argument})"),
            st.one_of(PORT, BAD_PORTS).map(
                lambda port: f" Extended ({delimiter * 3}{port}{delimiter})"
            ),
            st.text(max_size=30),
        )
    )
    return f"{code}{text}".encode("utf-8", "surrogatepass") + draw(ENDINGS)


def check_ftp_line(line: bytes) -> None:
    """Parsers never raise; what they accept formats and parses back to the same endpoint."""
    command = parse_command(line)
    if command is not None:
        assert command.verb.isascii()
        assert command.verb.isupper()
        for endpoint in (parse_port(command.argument), parse_eprt(command.argument)):
            if endpoint is not None:
                check_endpoint(endpoint)
    reply = parse_reply(line)
    if reply is not None:
        assert 100 <= reply.code <= 599
        passive = parse_227(reply.text)
        if passive is not None:
            check_endpoint(passive)
        port = parse_229(reply.text)
        assert port is None or 0 < port <= 65535


def check_endpoint(endpoint: tuple[str, int]) -> None:
    host, port = endpoint
    assert 0 < port <= 65535
    assert str(ipaddress.ip_address(host)) == host
    eprt = parse_command(format_eprt(endpoint))
    assert eprt is not None
    assert parse_eprt(eprt.argument) == endpoint
    if ":" not in host:
        command = parse_command(format_port(endpoint))
        assert command is not None
        assert parse_port(command.argument) == endpoint


FTP_LINES = Target("ftp-lines", st.one_of(command_lines(), reply_lines()), check_ftp_line)


def test_near_valid_commands_and_replies_parse_to_round_tripping_endpoints_or_none() -> None:
    FTP_LINES.run()


# -- the line splitter -----------------------------------------------------------------


def split(max_line: int, chunks: list[bytes]) -> tuple[list[tuple[bytes, bool]], bytes]:
    """The pieces of ``chunks`` fed one by one, and what the end of the stream flushes."""
    splitter = LineSplitter(max_line)
    pieces = []
    for chunk in chunks:
        pieces += splitter.feed(chunk)
        assert splitter.held <= max_line
    return pieces, splitter.flush()


def check_splitter(case: tuple[int, bytes]) -> None:
    """Every split gives the same lines, each whole and bounded, and loses no byte."""
    max_line, data = case
    reference, _ = split(max_line, [data])
    lines = [chunk for chunk, whole in reference if whole]
    assert all(line.endswith(b"\n") and len(line) <= max_line for line in lines)
    ways = [[data[i : i + 1] for i in range(len(data))]]
    ways += [[data[:cut], data[cut:]] for cut in range(len(data) + 1)]
    for chunks in ways:
        pieces, rest = split(max_line, chunks)
        assert b"".join(chunk for chunk, _ in pieces) + rest == data
        assert [chunk for chunk, whole in pieces if whole] == lines


SPLITTER = Target(
    "line-splitter",
    st.tuples(
        st.integers(1, 24),
        st.lists(st.sampled_from([b"a", b"bc", b"\r", b"\n", b"\r\n", b"x" * 9]), max_size=40).map(
            b"".join
        ),
    ),
    check_splitter,
)


def test_tiny_line_bounds_keep_lines_whole_bounded_and_independent_of_the_splits() -> None:
    SPLITTER.run()


TARGETS = (FTP_LINES, SPLITTER)
