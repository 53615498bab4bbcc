"""Broken rule files: one-line problems, never a traceback, never half-applied.

The corpus in ``data/hostile`` holds small files that are broken in one way
each: TOML syntax, wrong types, references to things that do not exist,
encodings (UTF-16 with its byte order mark, Latin-1, NUL bytes, encoded
surrogates, a doubled UTF-8 byte order mark), huge numbers, duplicate keys
and tables, control characters in keys and values. The files too large to
commit are generated here: a 10,000-digit integer, a hexadecimal integer of
5,000 digits, a 1 MB string, nesting 100,000 deep, 100,000 rules naming one
missing protocol, a 50 MB file, files over the 64 MiB limit, ``/dev/zero``.

Each file gives its exact ``PATH:LINE:COL: key: message`` lines (a bounded
number of them), ``fwx rules check`` prints them and exits 1 (3 when the
file cannot be read) without a traceback, and a running service asked to
reload it refuses, keeps the rules in force and goes on relaying.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from python_socks.sync import Proxy

from engine.core import HResult
from engine.socks.server import ServerOptions
from rules.errors import RuleFileError, RuleFileUnreadable
from rules.loader import MAX_FILE_SIZE, load
from rules.locate import MAX_PROBLEMS, KeyLocator
from tests.e2e.harness import RunningService, rules_text
from tests.fuzz.target import time_limit

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")
RELOAD_WAIT = 60.0

HOSTILE = Path(__file__).parent / "data" / "hostile"
ROOT = Path(__file__).resolve().parents[2]
FWX = [sys.executable, "-c", "from console.cli.main import run; run()"]
FTP_HEAD = (
    'version = 1\n\n[[protocol]]\nname = "FTP"\nguid = "a5b2c3d4-0000-4000-8000-000000000021"\n'
    'primary = { port = 21, transport = "tcp", direction = "outbound" }\n'
)

OUT_OF_RANGE = "integer out of range (TOML integers are 64-bit)"

RULE = '[[rule]]\nname = "r"\naction = "allow"\nprotocols = ["FTX"]\n'
"""A rule naming a protocol that does not exist."""

# file stem -> its problems, in order, as "LINE:COL: key: message" (the path is prepended).
CASES: list[tuple[str, list[str]]] = [
    ("syntax_unclosed_string", ["3:25: TOML syntax error: illegal character '\\n'"]),
    (
        "syntax_unclosed_header",
        ["2:7: TOML syntax error: expected ']]' at the end of an array declaration"],
    ),
    ("syntax_missing_value", ["6:20: TOML syntax error: invalid value"]),
    (
        "syntax_inline_newline",
        ["6:23: TOML syntax error: invalid initial character for a key part"],
    ),
    ("type_port_string", ["6:13: protocol[0].primary.port: must be an integer, not a string"]),
    ("type_version_float", ["1:1: version: must be an integer, not a number"]),
    ("type_rule_table", ["8:1: rule: must be an array of tables, not a table"]),
    (
        "type_protocols_string",
        ["11:1: rule[0].protocols: must be an array of strings, not a string"],
    ),
    ("type_listen_date", ["3:1: service.listen: must be a string, not a date/time"]),
    ("type_mixed_array", ["11:21: rule[0].protocols[1]: must be a string, not an integer"]),
    (
        "ref_unknown_protocol",
        ["11:14: rule[0].protocols[0]: no protocol named 'FTX'; did you mean 'FTP'?"],
    ),
    (
        "ref_unknown_client_set",
        ["16:12: rule[0].clients[0]: no client set named 'wan'; did you mean 'lan'?"],
    ),
    ("ref_rule_ip_filter", ["16:1: rule[0].ip_filter: unknown key"]),
    (
        "ref_unknown_group",
        [
            "16:10: rule[0].users[0]: no user is in group 'stuff'; did you mean 'staff'?",
            "16:20: rule[0].users[1]: no user named 'bob'",
        ],
    ),
    ("enc_utf16_bom", ["1:1: not UTF-8 text (byte 0xff); it is UTF-16, save it as UTF-8"]),
    ("enc_latin1", ["9:11: not UTF-8 text (byte 0xeb)"]),
    ("enc_nul", ["3:26: TOML syntax error: expected newline or end of document after a statement"]),
    ("enc_nul_in_string", ["3:20: TOML syntax error: illegal character '\\x00'"]),
    ("enc_utf8_bom_twice", ["1:1: TOML syntax error: invalid statement"]),
    ("enc_surrogate", ["3:9: not UTF-8 text (byte 0xed)"]),
    ("enc_truncated_utf8", ["3:11: not UTF-8 text (byte 0xc3)"]),
    ("huge_port", [f"6:13: protocol[0].primary.port: {OUT_OF_RANGE}"]),
    ("huge_hex_port", [f"6:13: protocol[0].primary.port: {OUT_OF_RANGE}"]),
    (
        "huge_timeout",
        [
            "3:1: service.pending_bind_timeout: must be a positive number of seconds, not inf",
            "4:1: service.max_binds_per_session: must be at least 1, not -9223372036854775808",
        ],
    ),
    ("dup_key", ["4:26: TOML syntax error: cannot overwrite a value"]),
    ("dup_table", ["5:9: TOML syntax error: cannot declare ('service',) twice"]),
    ("dup_version", ["2:12: TOML syntax error: cannot overwrite a value"]),
    ("dup_rule_names", ["14:1: rule[1].name: duplicate name 'one' (also rule[0])"]),
    ("text_newline_key", ["2:1: service.lis\\nten: unknown key; did you mean 'listen'?"]),
    (
        "text_escape_value",
        [
            "3:1: service.listen: '\\x1b[2J\\u202e127.0.0.1:1080' is not IP:PORT "
            "(write IPv6 as [::1]:1080)"
        ],
    ),
]
VALID = ["enc_utf8_bom"]
"""Files of the corpus that are valid: a UTF-8 byte order mark is allowed."""


def problem_lines(path: Path, load_it: Callable[[Path], object] = load) -> list[str]:
    """The problems ``load`` reports for ``path``, each checked to be one printable line."""
    with pytest.raises(RuleFileError) as caught:
        load_it(path)
    lines = [str(problem) for problem in caught.value.problems]
    assert 1 <= len(lines) <= MAX_PROBLEMS + 1
    for line in lines:
        assert line.startswith(f"{path}:")
        assert len(line.splitlines()) == 1
        assert line.isprintable()
    return lines


@pytest.mark.parametrize(("stem", "expected"), CASES, ids=[stem for stem, _ in CASES])
def test_hostile_file_gives_its_exact_one_line_problems(stem: str, expected: list[str]) -> None:
    path = HOSTILE / f"{stem}.toml"
    assert problem_lines(path) == [f"{path}:{line}" for line in expected]


def test_every_hostile_file_has_a_case() -> None:
    stems = sorted(path.stem for path in HOSTILE.glob("*.toml"))
    assert stems == sorted([stem for stem, _ in CASES] + VALID)


def test_a_utf8_byte_order_mark_is_allowed() -> None:
    assert [proto.name for proto in load(HOSTILE / "enc_utf8_bom.toml").protocols] == ["FTP"]


# -- huge files, generated -------------------------------------------------------------

HUGE: dict[str, tuple[Callable[[], bytes], list[str]]] = {
    "digits_10000": (
        lambda: b"version = 1\n[service]\nmax_binds_per_session = " + b"7" * 10_000 + b"\n",
        ["3:25: TOML syntax error: an integer of more than 4300 digits"],
    ),
    "hex_5000": (lambda: b"version = 0x" + b"f" * 5000 + b"\n", [f"1:1: version: {OUT_OF_RANGE}"]),
    "hex_timeout": (
        lambda: b"version = 1\n[service]\npending_bind_timeout = 0x" + b"f" * 400 + b"\n",
        [f"3:1: service.pending_bind_timeout: {OUT_OF_RANGE}"],
    ),
    "string_1mb": (
        lambda: (FTP_HEAD + RULE.replace("FTX", "x" * 2**20)).encode(),
        [f"10:14: rule[0].protocols[0]: no protocol named '{'x' * 281}… (1048596 characters)"],
    ),
    "key_1mb": (
        lambda: b"version = 1\n" + b"k" * 2**20 + b" = 1\n",
        [f"2:1: {'k' * 200}… (1048576 characters): unknown key"],
    ),
    "nested_100000": (
        lambda: b"version = 1\nx = " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
        ["2:100004: TOML syntax error: nested too deeply"],
    ),
    "nested_tables": (
        lambda: b"version = 1\nx = " + b"{a=" * 5000 + b"1" + b"}" * 5000 + b"\n",
        ["2:15002: TOML syntax error: nested too deeply"],
    ),
}


@pytest.mark.parametrize("name", list(HUGE))
def test_huge_values_give_one_short_line(name: str, tmp_path: Path) -> None:
    make, expected = HUGE[name]
    path = tmp_path / f"{name}.toml"
    path.write_bytes(make())
    with time_limit(30):
        assert problem_lines(path) == [f"{path}:{line}" for line in expected]


def test_the_key_locator_survives_nesting_deeper_than_python_recursion() -> None:
    """It recursed once per bracket: a RecursionError on text tomllib never accepted."""
    locator = KeyLocator("a = " + "[" * 100_000 + "\nb = 1\n")
    assert (locator.position("a"), locator.position("b")) == ((1, 1), (2, 1))


def hundred_thousand_rules() -> bytes:
    """100,000 rules, each naming a protocol that does not exist."""
    rules = (RULE.replace('"r"', f'"r{number}"') for number in range(100_000))
    return (FTP_HEAD + "".join(rules)).encode()


def fifty_megabytes(path: Path) -> int:
    """A 50 MB rule file: comment lines and a 24 MiB description, then a rule naming a
    protocol that does not exist. The line of that rule is returned."""
    with path.open("w", encoding="utf-8") as out:
        out.write("version = 1\n")
        out.write(("# " + "c" * 97 + "\n") * (256 * 1024))
        out.write(f"[service]\ndescription = '{'x' * 24 * 2**20}'\n")
        out.write(FTP_HEAD.removeprefix("version = 1\n"))
        out.write(RULE)
    assert path.stat().st_size > 50_000_000
    return 256 * 1024 + 12


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "sparse.toml"
    with path.open("wb") as out:
        out.truncate(MAX_FILE_SIZE + 1)
    assert problem_lines(path) == [f"{path}: larger than 64 MiB, too large for a rule file"]


def test_dev_zero_is_refused_not_read_for_ever() -> None:
    with time_limit(30):
        assert problem_lines(Path("/dev/zero")) == [
            "/dev/zero: larger than 64 MiB, too large for a rule file"
        ]


def test_a_nul_in_the_path_is_an_unreadable_file_not_a_crash() -> None:
    with pytest.raises(RuleFileUnreadable) as caught:
        load("rules\0.toml")
    assert str(caught.value) == "rules\0.toml: cannot read the file: embedded null byte"


# -- fwx rules check, a real subprocess -------------------------------------------------


def fwx(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300"}
    return subprocess.run(
        [*FWX, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("stem", ["enc_utf16_bom", "text_escape_value", "ref_unknown_group"])
def test_fwx_rules_check_prints_the_lines_and_exits_1(stem: str) -> None:
    path = HOSTILE / f"{stem}.toml"
    expected = dict(CASES)[stem]
    done = fwx("rules", "check", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    count = f"{len(expected)} problem{'s' if len(expected) > 1 else ''}"
    assert done.stderr.splitlines() == [
        *(f"{path}:{line}" for line in expected),
        f"fwx: {path}: {count}",
    ]


def test_fwx_rules_check_of_a_folder_exits_3(tmp_path: Path) -> None:
    done = fwx("rules", "check", str(tmp_path))
    assert done.returncode == 3
    assert done.stderr == f"fwx: {tmp_path}: cannot read the file: Is a directory\n"


# -- a running service asked to reload -------------------------------------------------


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, int]]:
    """A TCP echo server on 127.0.0.2: what the service relays to."""
    listener = socket.create_server(("127.0.0.2", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                while data := conn.recv(4096):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, echo: tuple[str, int]
) -> Iterator[RunningService]:
    path = tmp_path_factory.mktemp("reload") / "rules.toml"
    path.write_text(rules_text(web_ports=(echo[1],)), encoding="utf-8")
    running = RunningService(path, ServerOptions(phase_timeout=2.0, connect_timeout=2.0), 1.0)
    try:
        yield running
    finally:
        running.stop()


def relays(service: RunningService, echo: tuple[str, int]) -> bool:
    """A CONNECT through the service to the echo server carries bytes both ways."""
    proxy = Proxy.from_url(service.proxy_url)
    with proxy.connect(*echo, timeout=5) as sock:
        sock.settimeout(5)
        sock.sendall(b"still serving")
        return sock.recv(64) == b"still serving"


def on_loop(service: RunningService, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the service's loop; a large file may take longer than its WAIT."""
    return asyncio.run_coroutine_threadsafe(coroutine, service.loop).result(RELOAD_WAIT)


def refuse_reload(service: RunningService, echo: tuple[str, int], data: bytes) -> list[str]:
    """Write ``data`` over the rule file and reload it as ``fwx rules reload`` does (the
    admin socket's ``reload``, which calls ``Service.reload``): refused, rules kept, relaying.

    Returns the problems the reload reported.
    """
    path = service.service.rules_path
    good = path.read_bytes()
    before = service.engine_call(lambda engine: engine.rules)
    path.write_bytes(data)
    try:
        outcome = on_loop(service, service.service.operations.reload(actor="test"))
    finally:
        path.write_bytes(good)
    assert outcome.result is HResult.E_INVALIDARG
    assert outcome.message == "the rules in force stay"
    assert 1 <= len(outcome.problems) <= MAX_PROBLEMS + 1
    assert all(len(line.splitlines()) == 1 for line in outcome.problems)
    assert service.engine_call(lambda engine: engine.rules) is before
    assert relays(service, echo)
    return list(outcome.problems)


@pytest.mark.parametrize(("stem", "expected"), CASES, ids=[stem for stem, _ in CASES])
def test_reload_of_a_hostile_file_is_refused_and_the_service_serves_on(
    service: RunningService, echo: tuple[str, int], stem: str, expected: list[str]
) -> None:
    problems = refuse_reload(service, echo, (HOSTILE / f"{stem}.toml").read_bytes())
    path = service.service.rules_path
    assert problems == [f"{path}:{line}" for line in expected]


def test_reload_of_100000_rules_naming_a_missing_protocol_gives_a_bounded_report(
    service: RunningService, echo: tuple[str, int]
) -> None:
    """The first 100 problems, then one line counting the other 99,900 and saying where."""
    with time_limit(60):
        problems = refuse_reload(service, echo, hundred_thousand_rules())
    path = service.service.rules_path
    missing = "no protocol named 'FTX'; did you mean 'FTP'?"
    assert problems[0] == f"{path}:10:14: rule[0].protocols[0]: {missing}"
    assert problems[99] == f"{path}:406:14: rule[99].protocols[0]: {missing}"
    assert problems[100] == f"{path}:410:14: 99900 more problems not listed, the first of them here"


def test_reload_of_a_50_mb_file_is_refused_and_the_service_serves_on(
    service: RunningService, echo: tuple[str, int], tmp_path: Path
) -> None:
    big = tmp_path / "big.toml"
    line = fifty_megabytes(big)
    with time_limit(60):
        problems = refuse_reload(service, echo, big.read_bytes())
    path = service.service.rules_path
    assert problems == [
        f"{path}:{line}:14: rule[0].protocols[0]: no protocol named 'FTX'; did you mean 'FTP'?"
    ]


def test_a_valid_reload_after_the_hostile_ones_still_applies(service: RunningService) -> None:
    outcome = service.run(service.service.operations.reload(actor="test"))
    assert outcome.result is HResult.S_OK
