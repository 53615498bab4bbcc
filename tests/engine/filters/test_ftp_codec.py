"""The FTP control syntax (RFC 959, RFC 2428, RFC 1123 §4.1.2.6), parsed without I/O and fuzzed."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.filters.ftp_codec import (
    Command,
    Reply,
    format_eprt,
    format_port,
    line_ending,
    parse_227,
    parse_229,
    parse_command,
    parse_eprt,
    parse_port,
    parse_reply,
)

ports = st.integers(min_value=1, max_value=65535)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"PORT 10,0,0,5,195,80\r\n", Command("PORT", "10,0,0,5,195,80")),
        (b"port 1,2,3,4,5,6\n", Command("PORT", "1,2,3,4,5,6")),
        (b"PASV\r\n", Command("PASV", "")),
        (b"STOR name with spaces.txt\r\n", Command("STOR", "name with spaces.txt")),
        (b"NOOP", Command("NOOP", "")),
    ],
)
def test_commands_are_a_verb_and_an_argument(line: bytes, expected: Command) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize(
    "line", [b"", b"\r\n", b"AB\r\n", b"TOOLONG x\r\n", b"P0RT 1\r\n", b"\xff"]
)
def test_what_is_not_a_command_is_none(line: bytes) -> None:
    assert parse_command(line) is None


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("10,0,0,5,195,80", ("10.0.0.5", 50000)),
        (" 127,0,0,1,0,21 ", ("127.0.0.1", 21)),
        ("255,255,255,255,255,255", ("255.255.255.255", 65535)),
    ],
)
def test_port_arguments_name_an_ipv4_endpoint(argument: str, expected: tuple[str, int]) -> None:
    assert parse_port(argument) == expected


@pytest.mark.parametrize(
    "argument",
    ["", "1,2,3,4,5", "1,2,3,4,5,6,7", "256,0,0,1,1,1", "1,2,3,4,0,0", "1,2,3,4,5,x", "1;2;3;4;5;6",
     "1,2,3,4,5,\uff16", "1,2,3,4,5,1234"],
)  # fmt: skip
def test_malformed_port_arguments_are_none(argument: str) -> None:
    assert parse_port(argument) is None


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("|1|132.235.1.2|6275|", ("132.235.1.2", 6275)),
        ("|2|1080::8:800:200C:417A|5282|", ("1080::8:800:200c:417a", 5282)),
        ("!1!10.0.0.5!50000!", ("10.0.0.5", 50000)),
        ("|2|::ffff:10.0.0.5|50000|", ("10.0.0.5", 50000)),
    ],
)
def test_eprt_arguments_name_ipv4_and_ipv6_endpoints(
    argument: str, expected: tuple[str, int]
) -> None:
    """RFC 2428 §2, its own examples included; an IPv4-mapped address is its IPv4 address."""
    assert parse_eprt(argument) == expected


@pytest.mark.parametrize(
    "argument",
    ["", "|3|1.2.3.4|5|", "|1|1.2.3.4|0|", "|1|1.2.3.4|65536|", "|1|::1|5|", "|2|1.2.3.4|5|",
     "|1|1.2.3.4|5", "|1|1.2.3.4|5|x", "|2|fe80::1%eth0|5|", " 1 1.2.3.4 5 ", "|1|1.2.3.4|+5|"],
)  # fmt: skip
def test_malformed_eprt_arguments_are_none(argument: str) -> None:
    assert parse_eprt(argument) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"227 Passive (1,2,3,4,5,6).\r\n", Reply(227, True, "Passive (1,2,3,4,5,6).")),
        (b"230-Welcome\r\n", Reply(230, False, "Welcome")),
        (b"200\r\n", Reply(200, True, "")),
    ],
)  # fmt: skip
def test_reply_lines_have_a_code_and_say_whether_they_end_the_reply(
    line: bytes, expected: Reply
) -> None:
    assert parse_reply(line) == expected


@pytest.mark.parametrize("line", [b"", b" 230 x\r\n", b"23 x\r\n", b"600 x\r\n", b"2300 x\r\n"])
def test_lines_without_a_reply_code_are_none(line: bytes) -> None:
    assert parse_reply(line) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Entering Passive Mode (127,0,0,2,195,80).", ("127.0.0.2", 50000)),
        ("Entering Passive Mode 127,0,0,2,195,80", ("127.0.0.2", 50000)),
        ("=127, 0, 0, 2, 195, 80", ("127.0.0.2", 50000)),
    ],
)
def test_227_replies_are_scanned_for_the_address(text: str, expected: tuple[str, int]) -> None:
    """RFC 1123 §4.1.2.6: the address is found by scanning, whatever surrounds it."""
    assert parse_227(text) == expected


@pytest.mark.parametrize("text", ["Entering Passive Mode", "(1,2,3,4,5)", "(1,2,3,400,5,6)"])
def test_227_replies_without_an_address_are_none(text: str) -> None:
    assert parse_227(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Entering Extended Passive Mode (|||6446|)", 6446), ("ok (!!!50000!)", 50000)],
)
def test_229_replies_give_a_port(text: str, expected: int) -> None:
    assert parse_229(text) == expected


@pytest.mark.parametrize("text", ["(|||0|)", "(|||65536|)", "(||6446|)", "(|!|6446|)", "6446"])
def test_229_replies_without_a_valid_port_are_none(text: str) -> None:
    assert parse_229(text) is None


def test_line_endings() -> None:
    assert [line_ending(x) for x in (b"a\r\n", b"a\n", b"a", b"")] == [b"\r\n", b"\n", b"", b""]


@given(ipv4, ports)
def test_port_round_trips(host: str, port: int) -> None:
    line = format_port((host, port))
    command = parse_command(line)
    assert command is not None
    assert command.verb == "PORT"
    assert parse_port(command.argument) == (host, port)


@given(st.one_of(ipv4, ipv6), ports)
def test_eprt_round_trips(host: str, port: int) -> None:
    command = parse_command(format_eprt((host, port)) + b"\r\n")
    assert command is not None
    assert command.verb == "EPRT"
    assert parse_eprt(command.argument) == (host, port)


@given(st.binary(max_size=200))
def test_fuzz_lines_never_break_the_parsers(line: bytes) -> None:
    command = parse_command(line)
    if command is not None:
        assert command.verb.isupper()
        assert 3 <= len(command.verb) <= 4
    reply = parse_reply(line)
    if reply is not None:
        assert 100 <= reply.code <= 599


@given(st.text(max_size=80))
def test_fuzz_arguments_give_valid_endpoints_or_none(text: str) -> None:
    for endpoint in (parse_port(text), parse_eprt(text), parse_227(text)):
        if endpoint is not None:
            ipaddress.ip_address(endpoint[0])
            assert 0 < endpoint[1] <= 65535
    port = parse_229(text)
    assert port is None or 0 < port <= 65535


@given(st.lists(st.sampled_from("|!1234.:,0"), max_size=30).map("".join))
def test_fuzz_eprt_near_misses(text: str) -> None:
    """Arguments built from EPRT's own characters: a valid endpoint or None, never an error."""
    endpoint = parse_eprt(text)
    if endpoint is not None:
        ipaddress.ip_address(endpoint[0])
