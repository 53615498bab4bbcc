"""Fuzz the trace loader of ``fwx simulate``, and replay what it accepts.

The example traces, and one that uses every op, get the hostile edits of the
rule-file targets (values replaced by huge, hex, non-finite or wrongly typed
ones, keys renamed, lines and tables moved, text inserted, the file cut).
A trace that loads must replay to the end without an exception; one that
does not must be refused with ``TraceError``: one printable line per
problem, naming the trace (or the rule file a ``replace_rules`` step names)
and the line, at most ``MAX_PROBLEMS`` + 1 of them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import strategies as st

from engine.simulate import TraceError, loads_trace, run
from rules.loader import loads
from rules.locate import MAX_PROBLEMS
from tests.fuzz.target import Target, attempt, time_limit
from tests.fuzz.test_rules import HOSTILE_TEXT, one_edit

ROOT = Path(__file__).resolve().parents[2]
RULES_TEXT = (ROOT / "examples/rules.toml").read_text()
RULES = loads(RULES_TEXT)
PATH = "trace.toml"

EVERY_OP = """\
[[step]]
op = "session"
id = "alice"
client = "10.0.0.5"
user = "alice"

[[step]]
op = "bind"
id = "b1"
session = "alice"
transport = "tcp"
address = "198.51.100.1:40000"

[[step]]
op = "bind_for_client"
id = "c1"
session = "alice"
transport = "udp"
client_addresses = ["10.0.0.5:20", "10.0.0.5:21"]
proxy_address = "198.51.100.1:0"
protocol_guid = "FTP"
flags = 1
ip_filter = { include = ["192.0.2.0/24"], exclude = ["192.0.2.9"] }

[[step]]
op = "allow_future_connect"
session = "alice"
address = "192.0.2.10:30000"
protocol_guid = "a5b2c3d4-0000-4000-8000-000000000021"
flags = ["allow_multiple", "timeout"]

[[step]]
op = "register_protocol"
protocol = { name = "Chat", guid = "a5b2c3d4-0000-4000-8000-000000006667", \
primary = { port = 6667, transport = "tcp", direction = "outbound" }, \
secondary = [{ ports = "1024-2000", transport = "tcp", direction = "inbound" }] }

[[step]]
op = "retroactive_allow_bind"
session = "alice"
protocol = "tcp"
address = "198.51.100.1:40000"
address_length = 16
protocol_guid = "Chat"
flags = 0
ip_filter = "empty"

[[step]]
op = "inbound"
to = "198.51.100.1:40000"
from = "192.0.2.10:20"

[[step]]
op = "connect"
session = "alice"
to = "192.0.2.10:21"

[[step]]
op = "datagram_out"
from = "198.51.100.1:20"
to = "192.0.2.53:53"

[[step]]
op = "datagram_in"
to = "198.51.100.1:20"
from = "192.0.2.53:53"

[[step]]
op = "openings"

[[step]]
op = "replace_rules"
rules = "rules.toml"
recheck = true

[[step]]
op = "unregister_protocol"
protocol_guid = "Chat"

[[step]]
op = "advance"
seconds = 0.5

[[step]]
op = "terminate"
bind = "198.51.100.1:40000"
transport = "tcp"

[[step]]
op = "close"
bind = "b1"

[[step]]
op = "end_session"
session = "alice"
"""
BASES = (*(path.read_text() for path in sorted((ROOT / "examples").glob("*-*.toml"))), EVERY_OP)


@st.composite
def traces(draw: st.DrawFn) -> str:
    """A real trace with one to three hostile edits, or hostile text alone."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.lists(HOSTILE_TEXT, max_size=30).map("".join))
    text = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 3))):
        text = draw(one_edit(text))
    return text


def check_trace(text: str) -> None:
    """A trace that loads replays to its end; one that does not says where, line by line."""
    with tempfile.TemporaryDirectory(prefix="fwx-fuzz-") as folder:
        (Path(folder) / "rules.toml").write_text(RULES_TEXT)
        trace = attempt(lambda: loads_trace(text, RULES, PATH, Path(folder)), TraceError)
        if isinstance(trace, TraceError):
            assert trace.problems
            assert len(trace.problems) <= MAX_PROBLEMS + 1
            for problem in trace.problems:
                line = str(problem)
                assert line.startswith((f"{PATH}:", folder)), line
                assert len(line.splitlines()) == 1, line
                assert line.isprintable(), line
            return
        results = list(run(trace, RULES))
    assert len(results) == len(trace.steps)


TRACES = Target("simulate-trace", traces(), check_trace)


def test_near_valid_traces_replay_or_give_located_one_line_problems() -> None:
    TRACES.run()


def test_the_trace_using_every_op_loads_and_replays() -> None:
    check_trace(EVERY_OP)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "rules.toml").write_text(RULES_TEXT)
        steps = loads_trace(EVERY_OP, RULES, PATH, Path(folder)).steps
    assert len({step.__class__ for step in steps}) == 17


# -- regressions the fuzzing found ----------------------------------------------------

HEX = "0x" + "f" * 5000
ALICE = '[[step]]\nop = "session"\nid = "a"\nclient = "10.0.0.5"\n'
REGRESSIONS = {
    "hex-seconds": (
        f'[[step]]\nop = "advance"\nseconds = {HEX}\n',
        ["trace.toml:3: step[1].seconds: integer out of range (TOML integers are 64-bit)"],
    ),
    "hex-flag-bits": (
        ALICE + '[[step]]\nop = "allow_future_connect"\nsession = "a"\n'
        f'address = "192.0.2.1:5"\nprotocol_guid = "FTP"\nflags = [{HEX}]\n',
        [
            "trace.toml:10: step[2].flags[0]: flag an integer out of range; "
            "expected one of: address_based, allow_multiple, timeout"
        ],
    ),
    "newline-in-op": (
        '[[step]]\nop = "bi\\nnd"\n',
        ["trace.toml:2: step[1].op: op \"bi\\nnd\"; did you mean 'bind'?"],
    ),
    "newline-in-key": (
        '[[step]]\nop = "openings"\n"a\\nb" = 1\n',
        ["trace.toml:1: step[1].a\\nb: unknown key 'a\\nb'; expected one of: description, op"],
    ),
    "hex-in-register-protocol": (
        '[[step]]\nop = "register_protocol"\nprotocol = { name = "x", '
        f"primary = {{ port = {HEX} }} }}\n",
        [
            "trace.toml:3: step[1].protocol: holds an integer out of range "
            "(TOML integers are 64-bit)"
        ],
    ),
    "nested-in-register-protocol": (
        '[[step]]\nop = "register_protocol"\n'
        'protocol = { name = "x", x = ' + "[" * 300 + "]" * 300 + " }\n",
        ["trace.toml:3: step[1].protocol: holds arrays or tables nested too deeply"],
    ),
    "nested-too-deeply": (
        '[[step]]\nop = "openings"\nx = ' + "[" * 1000 + "]" * 1000 + "\n",
        ["trace.toml:3:1004: TOML syntax error: nested too deeply"],
    ),
}


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_trace_inputs_that_crashed_or_broke_lines_are_refused_on_one_line(name: str) -> None:
    """Each was a ValueError, OverflowError or RecursionError, or a problem spanning lines."""
    text, expected = REGRESSIONS[name]
    with pytest.raises(TraceError) as caught:
        loads_trace(text, RULES, PATH, ROOT)
    assert [str(problem) for problem in caught.value.problems] == expected


@pytest.mark.parametrize(
    ("rules", "reason"),
    [("a\\u0000b", "embedded null byte"), ("/dev/zero", "larger than 64 MiB")],
)
def test_replace_rules_naming_a_nul_or_an_endless_file_is_a_problem(
    rules: str, reason: str
) -> None:
    """A NUL was a ValueError out of the loader; /dev/zero was read until memory ran out."""
    text = f'[[step]]\nop = "replace_rules"\nrules = "{rules}"\n'
    with time_limit(30), pytest.raises(TraceError) as caught:
        loads_trace(text, RULES, PATH, ROOT)
    assert reason in str(caught.value.problems[-1])


TARGETS = (TRACES,)
