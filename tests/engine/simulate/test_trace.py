"""Loading traces: typed steps, and every kind of problem reported at once with its line."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import Flags, FutureFlags
from engine.simulate import Trace, TraceError, TraceUnreadable, load_trace
from engine.simulate.steps import (
    AdvanceStep,
    AllowFutureConnectStep,
    BindForClientStep,
    BindRef,
    BindStep,
    CloseStep,
    ConnectStep,
    DatagramInStep,
    DatagramOutStep,
    EndSessionStep,
    FilterSpec,
    InboundStep,
    OpeningsStep,
    RegisterProtocolStep,
    ReplaceRulesStep,
    RetroactiveAllowStep,
    SessionStep,
    TerminateStep,
    UnregisterProtocolStep,
)
from rules.model import RuleSet, Transport

FTP = "a5b2c3d4-0000-4000-8000-000000000021"
LoadTrace = Callable[..., Trace]

SESSION = """\
[[step]]
op = "session"
id = "s1"
client = "10.0.0.5"
user = "alice"
"""
# SESSION is 5 lines; the step that follows it starts on line 7 (after a blank line).


def problems(load: LoadTrace, text: str) -> list[str]:
    """The problem lines of a trace that must not load."""
    with pytest.raises(TraceError) as caught:
        load(text)
    return [str(problem) for problem in caught.value.problems]


def one_step(load: LoadTrace, body: str) -> object:
    """The second step of a trace that opens with SESSION."""
    return load(SESSION + "\n" + body).steps[1]


# -- steps that load ----------------------------------------------------------------


def test_a_session_step_defaults_authenticated_to_having_a_user(load: LoadTrace) -> None:
    trace = load(SESSION + '\n[[step]]\nop = "session"\nid = "anon"\nclient = "10.0.0.6"\n')
    assert trace.steps == (
        SessionStep(1, "s1", "10.0.0.5", "alice", authenticated=True, private=False),
        SessionStep(2, "anon", "10.0.0.6", None, authenticated=False, private=False),
    )


def test_a_session_client_may_be_ipv6_and_is_made_canonical(load: LoadTrace) -> None:
    trace = load('[[step]]\nop = "session"\nid = "v6"\nclient = "2001:DB8::0:1"\n')
    step = trace.steps[0]
    assert isinstance(step, SessionStep)
    assert step.client == "2001:db8::1"


def test_a_bind_step(load: LoadTrace) -> None:
    step = one_step(
        load,
        '[[step]]\nop = "bind"\nid = "b1"\nsession = "s1"\ntransport = "udp"\n'
        'address = "[2001:db8::1]:0"\n',
    )
    assert step == BindStep(2, "b1", "s1", Transport.UDP, ("2001:db8::1", 0))


def test_a_retroactive_allow_bind_step_with_every_key(load: LoadTrace) -> None:
    step = one_step(
        load,
        """\
[[step]]
op = "retroactive_allow_bind"
session = "s1"
protocol = "udp"
address = "0.0.0.0:40000"
address_length = 16
protocol_guid = "FTP"
flags = ["bidirectional", "increase_receive_buffer"]
ip_filter = { include = ["203.0.113.0/24"], exclude = ["203.0.113.9"] }
actor = "filter:ftp"
""",
    )
    assert step == RetroactiveAllowStep(
        2,
        "s1",
        17,
        "udp",
        ("0.0.0.0", 40000),
        16,
        uuid.UUID(FTP),
        Flags.BIDIRECTIONAL | Flags.INCREASE_RECEIVE_BUFFER,
        FilterSpec("inline", ("203.0.113.0/24",), ("203.0.113.9",)),
        "filter:ftp",
    )


def test_retroactive_allow_bind_defaults(load: LoadTrace) -> None:
    """Flags 0, ip_filter NULL, the right address length, actor "session"."""
    step = one_step(
        load,
        '[[step]]\nop = "retroactive_allow_bind"\nsession = "s1"\nprotocol = "tcp"\n'
        f'address = "198.51.100.1:40000"\nprotocol_guid = "{{{FTP.upper()}}}"\n',
    )
    assert isinstance(step, RetroactiveAllowStep)
    assert (step.protocol, step.flags, step.ip_filter, step.address_length, step.actor) == (
        6,
        0,
        None,
        None,
        "session",
    )
    assert step.protocol_guid == uuid.UUID(FTP)


@pytest.mark.parametrize(
    ("written", "value", "text"),
    [('"tcp"', 6, "tcp"), ('"udp"', 17, "udp"), ('"icmp"', 0, "icmp"), ("1", 1, "1")],
)
def test_the_protocol_parameter_passes_anything_but_tcp_and_udp_through_as_invalid(
    load: LoadTrace, written: str, value: int, text: str
) -> None:
    """R22: the engine answers E_INVALIDARG for a protocol other than TCP/UDP; the trace lets
    the operator ask."""
    step = one_step(
        load,
        f'[[step]]\nop = "retroactive_allow_bind"\nsession = "s1"\nprotocol = {written}\n'
        'address = "198.51.100.1:40000"\nprotocol_guid = "FTP"\n',
    )
    assert isinstance(step, RetroactiveAllowStep)
    assert (step.protocol, step.protocol_text) == (value, text)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('"none"', None),
        ('"empty"', FilterSpec("empty")),
        ('"servers"', FilterSpec("servers", ("192.0.2.0/24",), ("192.0.2.99",))),
        ('{ include = ["192.0.2.1"] }', FilterSpec("inline", ("192.0.2.1",))),
    ],
)
def test_ip_filter_forms(load: LoadTrace, written: str, expected: FilterSpec | None) -> None:
    """R27/R29: "none" is NULL (anyone), "empty" blocks all; sets come from the rules."""
    step = one_step(
        load,
        '[[step]]\nop = "retroactive_allow_bind"\nsession = "s1"\nprotocol = "tcp"\n'
        f'address = "198.51.100.1:1"\nprotocol_guid = "FTP"\nip_filter = {written}\n',
    )
    assert isinstance(step, RetroactiveAllowStep)
    assert step.ip_filter == expected


def test_raw_flag_bits_pass_through(load: LoadTrace) -> None:
    step = one_step(
        load,
        '[[step]]\nop = "retroactive_allow_bind"\nsession = "s1"\nprotocol = "tcp"\n'
        'address = "198.51.100.1:1"\nprotocol_guid = "FTP"\nflags = 0x80\n',
    )
    assert isinstance(step, RetroactiveAllowStep)
    assert step.flags == 0x80


def test_an_unregistered_guid_is_passed_through(load: LoadTrace) -> None:
    """The engine's policy answers for a GUID nobody registered; the trace does not refuse it."""
    guid = "0badc0de-0000-4000-8000-000000000000"
    step = one_step(
        load,
        f'[[step]]\nop = "unregister_protocol"\nprotocol_guid = "{guid}"\n',
    )
    assert step == UnregisterProtocolStep(2, uuid.UUID(guid))


def test_traffic_steps(load: LoadTrace) -> None:
    trace = load(
        SESSION
        + """
[[step]]
op = "inbound"
to = "198.51.100.1:40000"
from = "203.0.113.7:5555"

[[step]]
op = "datagram_in"
to = "198.51.100.1:40001"
from = "203.0.113.7:5555"

[[step]]
op = "datagram_out"
from = "198.51.100.1:40001"
to = "203.0.113.7:5555"

[[step]]
op = "connect"
session = "s1"
to = "192.0.2.10:21"
"""
    )
    local, remote = ("198.51.100.1", 40000), ("203.0.113.7", 5555)
    udp = ("198.51.100.1", 40001)
    assert trace.steps[1:] == (
        InboundStep(2, Transport.TCP, local, remote),
        DatagramInStep(3, udp, remote),
        DatagramOutStep(4, udp, remote),
        ConnectStep(5, "s1", ("192.0.2.10", 21), Transport.TCP),
    )


def test_filter_side_steps(load: LoadTrace) -> None:
    trace = load(
        SESSION
        + """
[[step]]
op = "bind_for_client"
id = "c1"
session = "s1"
transport = "tcp"
client_addresses = ["10.0.0.5:20", "0.0.0.0:0"]
protocol_guid = "FTP"
ip_filter = "empty"

[[step]]
op = "allow_future_connect"
session = "s1"
address = "192.0.2.10:30000"
protocol_guid = "FTP"
flags = ["allow_multiple"]
"""
    )
    assert trace.steps[1:] == (
        BindForClientStep(
            2,
            "c1",
            "s1",
            Transport.TCP,
            (("10.0.0.5", 20), ("0.0.0.0", 0)),
            None,
            uuid.UUID(FTP),
            0,
            FilterSpec("empty"),
            "filter:simulate",
        ),
        AllowFutureConnectStep(
            3,
            "s1",
            ("192.0.2.10", 30000),
            Transport.TCP,
            uuid.UUID(FTP),
            FutureFlags.ALLOW_MULTIPLE,
            "filter:simulate",
        ),
    )


def test_allow_future_connect_defaults_to_the_timeout_flag(load: LoadTrace) -> None:
    """R47: TIMEOUT unless the trace says otherwise, as the engine's default."""
    step = one_step(
        load,
        '[[step]]\nop = "allow_future_connect"\nsession = "s1"\n'
        'address = "192.0.2.10:30000"\nprotocol_guid = "FTP"\n',
    )
    assert isinstance(step, AllowFutureConnectStep)
    assert step.flags == FutureFlags.TIMEOUT


def test_a_registered_protocol_can_be_named_by_later_steps(load: LoadTrace) -> None:
    trace = load(
        SESSION
        + """
[[step]]
op = "register_protocol"
[step.protocol]
name = "Chat"
guid = "{a5b2c3d4-0000-4000-8000-000000006667}"
primary = { port = 6667, transport = "tcp", direction = "outbound" }
secondary = [{ ports = "7000-7010", transport = "tcp", direction = "inbound" }]

[[step]]
op = "unregister_protocol"
protocol_guid = "Chat"
"""
    )
    register, unregister = trace.steps[1:]
    assert isinstance(register, RegisterProtocolStep)
    guid = uuid.UUID("a5b2c3d4-0000-4000-8000-000000006667")
    assert register.definition.guid == guid
    assert register.definition.name == "Chat"
    assert register.definition.primary.port == 6667
    assert register.definition.secondary[0].ports_text == "7000-7010"
    assert unregister == UnregisterProtocolStep(3, guid)


def test_binds_are_named_by_id_or_by_address(load: LoadTrace) -> None:
    trace = load(
        SESSION
        + """
[[step]]
op = "bind"
id = "b1"
session = "s1"
transport = "tcp"
address = "198.51.100.1:40000"

[[step]]
op = "terminate"
bind = "b1"

[[step]]
op = "close"
bind = "198.51.100.1:40000"
transport = "tcp"

[[step]]
op = "end_session"
session = "s1"

[[step]]
op = "advance"
seconds = 2.5

[[step]]
op = "openings"
"""
    )
    assert trace.steps[2:] == (
        TerminateStep(3, BindRef(name="b1")),
        CloseStep(4, BindRef(address=("198.51.100.1", 40000), transport=Transport.TCP)),
        EndSessionStep(5, "s1"),
        AdvanceStep(6, 2.5),
        OpeningsStep(7),
    )


def test_replace_rules_loads_the_file_next_to_the_trace(
    load: LoadTrace, tmp_path: Path, ruleset: RuleSet, rules_text: str
) -> None:
    """Protocol names after replace_rules come from the new rules."""
    other = rules_text.replace('name = "Telnet"', 'name = "Remote shell"')
    (tmp_path / "other.toml").write_text(other)
    trace = load(
        SESSION
        + """
[[step]]
op = "replace_rules"
rules = "other.toml"
recheck = true

[[step]]
op = "unregister_protocol"
protocol_guid = "Remote shell"
"""
    )
    replace = trace.steps[1]
    assert isinstance(replace, ReplaceRulesStep)
    assert replace.path == tmp_path / "other.toml"
    assert replace.recheck
    assert replace.rules.protocol("Remote shell") is not None
    assert ruleset.protocol("Remote shell") is None


def test_a_trace_may_carry_descriptions(load: LoadTrace) -> None:
    trace = load(
        'description = "notes"\n\n' + SESSION.replace("[[step]]\n", '[[step]]\ndescription = "x"\n')
    )
    assert len(trace.steps) == 1


def test_load_reads_a_file(tmp_path: Path, ruleset: RuleSet) -> None:
    path = tmp_path / "t.toml"
    path.write_text(SESSION)
    trace = load_trace(path, ruleset)
    assert trace.path == str(path)
    assert len(trace.steps) == 1


# -- problems -------------------------------------------------------------------------


def test_a_syntax_error_has_its_line_and_column(load: LoadTrace) -> None:
    assert problems(load, '[[step]]\nop = "session\n') == [
        "trace.toml:2:14: TOML syntax error: illegal character '\\n'"
    ]


def test_an_unreadable_trace_is_its_own_error(tmp_path: Path, ruleset: RuleSet) -> None:
    with pytest.raises(TraceUnreadable) as caught:
        load_trace(tmp_path / "missing.toml", ruleset)
    assert (
        str(caught.value)
        == f"{tmp_path / 'missing.toml'}: cannot read the trace: No such file or directory"
    )


def test_a_trace_that_is_not_utf8_is_invalid(tmp_path: Path, ruleset: RuleSet) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[[step]]\nop = "caf\xe9"\n')
    with pytest.raises(TraceError) as caught:
        load_trace(path, ruleset)
    assert not isinstance(caught.value, TraceUnreadable)
    assert "the trace is not UTF-8 text" in str(caught.value)


def test_a_trace_without_steps(load: LoadTrace) -> None:
    assert problems(load, 'description = "nothing"\n') == [
        "trace.toml:1: step: the trace has no [[step]] tables"
    ]


def test_unknown_top_level_keys(load: LoadTrace) -> None:
    assert problems(load, "steps = 1\n\n" + SESSION) == [
        "trace.toml:1: steps: unknown key; a trace holds [[step]]"
    ]


def test_a_missing_op(load: LoadTrace) -> None:
    assert problems(load, '[[step]]\nid = "s1"\n') == ["trace.toml:1: step[1].op: missing key 'op'"]


def test_an_unknown_op_suggests_the_closest(load: LoadTrace) -> None:
    assert problems(load, SESSION + '\n[[step]]\nop = "bnd"\n') == [
        "trace.toml:8: step[2].op: op \"bnd\"; did you mean 'bind'?"
    ]


def test_an_unknown_key_suggests_the_closest(load: LoadTrace) -> None:
    text = SESSION + (
        '\n[[step]]\nop = "bind"\nsession = "s1"\ntransport = "tcp"\n'
        'address = "198.51.100.1:1"\nadress = "x"\n'
    )
    assert problems(load, text) == [
        "trace.toml:12: step[2].adress: unknown key 'adress'; did you mean 'address'?"
    ]


def test_a_missing_key_points_at_the_step(load: LoadTrace) -> None:
    text = SESSION + '\n[[step]]\nop = "bind"\nsession = "s1"\ntransport = "tcp"\n'
    assert problems(load, text) == ["trace.toml:7: step[2].address: missing key 'address'"]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ('"198.51.100.1"', "'198.51.100.1' has no port (write IP:port)"),
        ('"example.com:80"', "'example.com' is not an IP address"),
        ('"2001:db8::1:80"', "'2001:db8::1:80': write an IPv6 address in brackets, as [addr]:port"),
        ('"198.51.100.1:65536"', "port '65536' is not a number from 0 to 65535"),
        ('"[2001:db8::1]80"', "'[2001:db8::1]80' is not [IPv6]:port"),
        ("40000", "expected a non-empty string, got 40000"),
    ],
)
def test_bad_addresses(load: LoadTrace, address: str, message: str) -> None:
    text = SESSION + (
        f'\n[[step]]\nop = "bind"\nsession = "s1"\ntransport = "tcp"\naddress = {address}\n'
    )
    assert problems(load, text) == [f"trace.toml:11: step[2].address: {message}"]


def test_a_bad_transport(load: LoadTrace) -> None:
    text = SESSION + (
        '\n[[step]]\nop = "bind"\nsession = "s1"\ntransport = "sctp"\naddress = "198.51.100.1:1"\n'
    )
    assert problems(load, text) == [
        'trace.toml:10: step[2].transport: expected "tcp" or "udp", got "sctp"'
    ]


def test_a_bad_client_and_an_anonymous_authenticated_session(load: LoadTrace) -> None:
    text = '[[step]]\nop = "session"\nid = "s1"\nclient = "10.0.0.300"\nauthenticated = true\n'
    assert problems(load, text) == [
        "trace.toml:5: step[1].authenticated: an anonymous session (no 'user') cannot be "
        "authenticated",
        "trace.toml:4: step[1].client: '10.0.0.300' is not an IP address",
    ]


def test_a_wrong_type_for_a_boolean(load: LoadTrace) -> None:
    text = '[[step]]\nop = "session"\nid = "s1"\nclient = "10.0.0.1"\nprivate = "yes"\n'
    assert problems(load, text) == [
        'trace.toml:5: step[1].private: expected true or false, got "yes"'
    ]


def test_references_to_sessions_that_do_not_exist_yet(load: LoadTrace) -> None:
    """Steps are read in order: a session defined later is unknown at the step before it."""
    text = '[[step]]\nop = "end_session"\nsession = "s1"\n\n' + SESSION
    assert problems(load, text) == [
        "trace.toml:3: step[1].session: unknown session 's1': expected the id of an earlier "
        "session step (none yet)"
    ]


def test_an_unknown_bind(load: LoadTrace) -> None:
    text = SESSION + '\n[[step]]\nop = "close"\nbind = "b9"\n'
    assert problems(load, text) == [
        "trace.toml:9: step[2].bind: unknown bind 'b9': expected the id of an earlier bind "
        "step (none yet), or an IP:port address"
    ]


def test_ids_are_unique_and_never_look_like_addresses(load: LoadTrace) -> None:
    text = SESSION + (
        '\n[[step]]\nop = "bind"\nid = "s1"\nsession = "s1"\ntransport = "tcp"\n'
        'address = "198.51.100.1:1"\n'
        '\n[[step]]\nop = "bind"\nid = "198.51.100.1:2"\nsession = "s1"\ntransport = "tcp"\n'
        'address = "198.51.100.1:2"\n'
    )
    assert problems(load, text) == [
        "trace.toml:9: step[2].id: id 's1' is already used by step 1",
        "trace.toml:16: step[3].id: id '198.51.100.1:2' looks like an address; pick a name "
        "such as 'b1'",
    ]


def test_an_unknown_protocol_name(load: LoadTrace) -> None:
    text = SESSION + '\n[[step]]\nop = "unregister_protocol"\nprotocol_guid = "Gopher"\n'
    assert problems(load, text) == [
        "trace.toml:9: step[2].protocol_guid: unknown protocol 'Gopher': neither a GUID nor a "
        "known name ('DNS', 'FTP', 'Game host', 'Telnet')"
    ]


def test_ip_filter_problems(load: LoadTrace) -> None:
    base = SESSION + (
        '\n[[step]]\nop = "retroactive_allow_bind"\nsession = "s1"\nprotocol = "tcp"\n'
        'address = "198.51.100.1:1"\nprotocol_guid = "FTP"\n'
    )
    assert problems(load, base + 'ip_filter = "partners"\n') == [
        "trace.toml:13: step[2].ip_filter: unknown IP filter set 'partners': expected \"none\", "
        "\"empty\", { include = [...], exclude = [...] } or a set of the rules ('servers')"
    ]
    assert problems(load, base + 'ip_filter = { include = ["10.0.0.1/8"], only = 1 }\n') == [
        "trace.toml:13: step[2].ip_filter.only: unknown key; expected 'include' or 'exclude'",
        "trace.toml:13: step[2].ip_filter.include[0]: '10.0.0.1/8' has host bits set; "
        "did you mean '10.0.0.0/8'?",
    ]
    assert problems(load, base + "ip_filter = 3\n") == [
        "trace.toml:13: step[2].ip_filter: expected a string or an inline table"
    ]


def test_flag_problems(load: LoadTrace) -> None:
    base = SESSION + (
        '\n[[step]]\nop = "retroactive_allow_bind"\nsession = "s1"\nprotocol = "udp"\n'
        'address = "198.51.100.1:1"\nprotocol_guid = "FTP"\n'
    )
    assert problems(load, base + 'flags = ["bidirektional"]\n') == [
        "trace.toml:13: step[2].flags[0]: flag \"bidirektional\"; did you mean 'bidirectional'?"
    ]
    assert problems(load, base + "flags = -1\n") == [
        "trace.toml:13: step[2].flags: raw flag bits must fit in 32 bits, got -1"
    ]
    assert problems(load, base + 'flags = "bidirectional"\n') == [
        "trace.toml:13: step[2].flags: expected a list of flag names or an integer, "
        'got "bidirectional"'
    ]


def test_a_bad_protocol_parameter_and_address_length(load: LoadTrace) -> None:
    text = SESSION + (
        '\n[[step]]\nop = "retroactive_allow_bind"\nsession = "s1"\nprotocol = true\n'
        'address = "198.51.100.1:1"\naddress_length = -1\nprotocol_guid = "FTP"\n'
    )
    assert problems(load, text) == [
        'trace.toml:10: step[2].protocol: expected "tcp", "udp", another string or an integer',
        "trace.toml:12: step[2].address_length: expected an integer from 0 to 4294967295, got -1",
    ]


def test_a_registered_protocol_is_checked_like_a_rule_file_protocol(load: LoadTrace) -> None:
    """R72/R73: port 0 and a UDP direction on TCP are refused, as in [[protocol]]."""
    text = SESSION + (
        '\n[[step]]\nop = "register_protocol"\n'
        'protocol = { name = "X", guid = "a5b2c3d4-0000-4000-8000-000000000001", '
        'primary = { port = 0, transport = "tcp", direction = "send" } }\n'
    )
    assert problems(load, text) == [
        "trace.toml:9: step[2].protocol.primary.port: port 0 is out of range (1-65535)",
        "trace.toml:9: step[2].protocol.primary.direction: 'send' is not a tcp direction "
        "(use inbound, outbound)",
    ]
    assert problems(load, SESSION + '\n[[step]]\nop = "register_protocol"\nprotocol = "X"\n') == [
        "trace.toml:9: step[2].protocol: expected a table with the keys of a rule file's "
        "[[protocol]]"
    ]


def test_replace_rules_problems_name_the_rule_file(load: LoadTrace, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("version = 1\n[service]\nlisten = 5\n")
    text = SESSION + '\n[[step]]\nop = "replace_rules"\nrules = "bad.toml"\n'
    found = problems(load, text)
    assert (
        found[0]
        == f"trace.toml:9: step[2].rules: the rule file '{tmp_path / 'bad.toml'}' does not load:"
    )
    assert found[1].startswith(f"{tmp_path / 'bad.toml'}:3:")
    assert problems(load, text.replace("bad.toml", "missing.toml"))[1] == (
        f"{tmp_path / 'missing.toml'}: cannot read the file: No such file or directory"
    )


def test_advance_needs_seconds(load: LoadTrace) -> None:
    assert problems(load, '[[step]]\nop = "advance"\nseconds = -1\n') == [
        "trace.toml:3: step[1].seconds: expected a number of seconds (0 or more), got -1"
    ]
    assert problems(load, '[[step]]\nop = "advance"\n') == [
        "trace.toml:1: step[1].seconds: missing key 'seconds'"
    ]


def test_every_problem_is_reported_at_once(load: LoadTrace) -> None:
    text = """\
[[step]]
op = "session"
id = "s1"
client = "nowhere"

[[step]]
op = "bind"
session = "s2"
transport = "tcp"
address = "198.51.100.1:1"

[[step]]
op = "teleport"
"""
    assert problems(load, text) == [
        "trace.toml:4: step[1].client: 'nowhere' is not an IP address",
        "trace.toml:8: step[2].session: unknown session 's2': expected the id of an earlier "
        "session step ('s1')",
        'trace.toml:13: step[3].op: op "teleport"; expected one of: advance, '
        "allow_future_connect, bind, bind_for_client, close, connect, datagram_in, "
        "datagram_out, end_session, inbound, openings, register_protocol, replace_rules, "
        "retroactive_allow_bind, session, terminate, unregister_protocol",
    ]
