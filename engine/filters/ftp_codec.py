"""The FTP control-channel syntax the FTP filter needs, sans-I/O: parse and format, never raise.

Commands (RFC 959 §4.1, §5.3): a verb of three or four ASCII letters, then
an optional argument after one space. ``PORT h1,h2,h3,h4,p1,p2`` (RFC 959)
and ``EPRT <d>1|2<d>address<d>port<d>`` (RFC 2428 §2, IPv4 and IPv6) name
the address the server is to connect to. Replies (RFC 959 §4.2): three
digits then a space (a final line) or a hyphen (the first line of a
multi-line reply). ``227`` carries ``h1,h2,h3,h4,p1,p2`` somewhere in its
text, to be found by scanning (RFC 1123 §4.1.2.6); ``229`` carries
``(<d><d><d>port<d>)`` (RFC 2428 §3).

Every parser takes bytes or text from the network and returns a value or
None: anything malformed is None, so the filter passes it on untouched. The
parsers are total functions, which the fuzz tests check.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from engine.core import Endpoint
from rules.addresses import address_key, key_text

__all__ = [
    "Command",
    "Reply",
    "format_eprt",
    "format_port",
    "line_ending",
    "parse_227",
    "parse_229",
    "parse_command",
    "parse_eprt",
    "parse_port",
    "parse_reply",
]

_VERB: Final = re.compile(r"[A-Za-z]{3,4}")
_BYTE: Final = r"([0-9]{1,3})"
_PORT_ARGUMENT: Final = re.compile(",".join([_BYTE] * 6))
_PASSIVE_ADDRESS: Final = re.compile(r"\s*,\s*".join([_BYTE] * 6))
_EPRT_PORT: Final = re.compile(r"[0-9]{1,5}")
_EXTENDED_PASSIVE: Final = re.compile(r"\(([\x21-\x7e])\1\1([0-9]{1,5})\1\)")
_REPLY: Final = re.compile(r"([1-5][0-9][0-9])([ -]|$)")


@dataclass(frozen=True, slots=True)
class Command:
    """A client command: its verb in upper case and its argument (may be empty)."""

    verb: str
    argument: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply line: its code, whether it ends the reply, and the text after the code."""

    code: int
    final: bool
    text: str


def line_ending(line: bytes) -> bytes:
    """The terminator ``line`` ends with: ``\\r\\n``, ``\\n``, or nothing."""
    if line.endswith(b"\r\n"):
        return b"\r\n"
    return b"\n" if line.endswith(b"\n") else b""


def _text(line: bytes) -> str:
    """A line without its terminator, as text (Latin-1: every byte is a character)."""
    return line[: len(line) - len(line_ending(line))].decode("latin-1")


def parse_command(line: bytes) -> Command | None:
    """The command on ``line`` (terminator included or not), or None when it is not one."""
    verb, _, argument = _text(line).partition(" ")
    if not _VERB.fullmatch(verb):
        return None
    return Command(verb.upper(), argument)


def parse_port(argument: str) -> Endpoint | None:
    """The IPv4 endpoint of a ``PORT`` argument ``h1,h2,h3,h4,p1,p2``, or None."""
    match = _PORT_ARGUMENT.fullmatch(argument.strip())
    return None if match is None else _six_numbers(match.groups())


def parse_eprt(argument: str) -> Endpoint | None:
    """The endpoint of an ``EPRT`` argument (RFC 2428: ``|1|ip4|port|`` or ``|2|ip6|port|``)."""
    text = argument.strip()
    if not text or not "\x21" <= text[0] <= "\x7e":
        return None
    fields = text.split(text[0])
    if len(fields) != 5 or fields[0] or fields[4]:
        return None
    family, host, port_text = fields[1:4]
    if not _EPRT_PORT.fullmatch(port_text) or not 0 < int(port_text) <= 0xFFFF:
        return None
    try:
        if family == "1":
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(host)
        elif family == "2" and "%" not in host:
            address = ipaddress.IPv6Address(host)
        else:
            return None
    except ValueError:
        return None
    return key_text(_key(address)), int(port_text)


def parse_reply(line: bytes) -> Reply | None:
    """The reply line ``line`` (terminator included or not), or None when it has no code."""
    text = _text(line)
    match = _REPLY.match(text)
    if match is None:
        return None
    return Reply(int(match[1]), match[2] != "-", text[match.end() :])


def parse_227(text: str) -> Endpoint | None:
    """The address in a ``227`` reply's text: the first six comma-separated numbers, or None."""
    match = _PASSIVE_ADDRESS.search(text)
    return None if match is None else _six_numbers(match.groups())


def parse_229(text: str) -> int | None:
    """The port in a ``229`` reply's text (``(|||port|)``, any delimiter), or None."""
    match = _EXTENDED_PASSIVE.search(text)
    if match is None:
        return None
    port = int(match[2])
    return port if 0 < port <= 0xFFFF else None


def format_port(endpoint: Endpoint) -> bytes:
    """``PORT h1,h2,h3,h4,p1,p2`` for an IPv4 endpoint (no terminator)."""
    host, port = endpoint
    numbers = [*host.split("."), str(port >> 8), str(port & 0xFF)]
    return b"PORT " + ",".join(numbers).encode("ascii")


def format_eprt(endpoint: Endpoint) -> bytes:
    """``EPRT |1|ip|port|`` or ``EPRT |2|ip|port|`` (no terminator)."""
    host, port = endpoint
    family = "2" if ":" in host else "1"
    return f"EPRT |{family}|{host}|{port}|".encode("ascii")


def _key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """The address key of ``address`` (an IPv4-mapped IPv6 address is its IPv4 address)."""
    return address_key(str(address))


def _six_numbers(groups: tuple[str | None, ...]) -> Endpoint | None:
    """``h1..h4,p1,p2`` as an endpoint; None when a number is above 255 or the port is 0."""
    numbers = [int(group or "") for group in groups]
    if any(number > 0xFF for number in numbers):
        return None
    port = numbers[4] << 8 | numbers[5]
    if port == 0:
        return None
    return ".".join(str(number) for number in numbers[:4]), port
