"""Loading rule files: good fixtures load, every bad fixture gives its exact one-line problem."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.errors import RuleFileError, RuleFileUnreadable
from rules.loader import load, loads
from rules.model import Action, AuthMode, Direction, Transport

DATA = Path(__file__).parent / "data"
GOOD = DATA / "good"
BAD = DATA / "bad"

# fixture stem -> the problems, in order, as "LINE:COL: key: message" (the path is prepended).
BAD_CASES: list[tuple[str, list[str]]] = [
    ("syntax_error", ["4:25: TOML syntax error: illegal character '\\n'"]),
    ("not_utf8", ["4:10: not UTF-8 text (byte 0xfc)"]),
    ("unknown_key", ["5:1: user[0].pasword: unknown key; did you mean 'password'?"]),
    ("unknown_table", ["3:1: rules: unknown key; did you mean 'rule'?"]),
    ("missing_key", ["3:1: protocol[0].guid: missing (this key is required)"]),
    ("missing_inline_key", ["6:1: protocol[0].primary.transport: missing (this key is required)"]),
    ("wrong_type", ["6:13: protocol[0].primary.port: must be an integer, not a string"]),
    ("not_a_table", ["2:13: protocol[0]: must be a table, not a string"]),
    (
        "bad_choice",
        ["6:24: protocol[0].primary.transport: 'tpc' is not one of tcp, udp; did you mean 'tcp'?"],
    ),
    (
        "bad_guid",
        [
            "5:1: protocol[0].guid: 'a5b2c3d4-0000-4000-8000-00000000002' is not a GUID "
            "(8-4-4-4-12 hex digits, braces optional)"
        ],
    ),
    (
        "bad_port_range_text",
        [
            "7:16: protocol[0].secondary[0].ports: '1024:65535' is not a port range "
            '(e.g. "1024-65535")'
        ],
    ),
    ("version_missing", ["1:1: version: missing; a rule file starts with version = 1"]),
    ("version_unsupported", ["1:1: version: unsupported version 2; this fwx reads version 1"]),
    ("port_zero", ["6:13: protocol[0].primary.port: port 0 is out of range (1-65535)"]),
    (
        "port_too_high",
        ["7:16: protocol[0].secondary[0].ports: ports 1024-65536 are out of range (1-65535)"],
    ),
    ("ports_backwards", ["7:16: protocol[0].secondary[0].ports: ports 2000-1000 run backwards"]),
    (
        "direction_for_transport",
        [
            "6:43: protocol[0].primary.direction: 'outbound' is not a udp direction "
            "(use send, receive, send-receive, receive-send)"
        ],
    ),
    ("duplicate_name", ["9:1: protocol[1].name: duplicate name 'FTP' (also protocol[0])"]),
    (
        "duplicate_guid",
        [
            "10:1: protocol[1].guid: duplicate GUID a5b2c3d4-0000-4000-8000-000000000021 "
            "(also protocol[0])"
        ],
    ),
    ("duplicate_rule_name", ["9:1: rule[1].name: duplicate name 'r' (also rule[0])"]),
    ("empty_name", ["4:1: client_set[0].name: must not be empty"]),
    ("reserved_name", ["4:1: client_set[0].name: 'any' is reserved (it means every client set)"]),
    (
        "bad_filter_name",
        [
            "7:1: protocol[0].filter: 'FTP filter' is not a filter name "
            "(lower-case letters, digits, - and _)"
        ],
    ),
    (
        "cidr_host_bits",
        [
            "7:5: ip_filter[0].include[1]: '198.51.100.7/24' has host bits set; "
            "did you mean '198.51.100.0/24'?"
        ],
    ),
    ("bad_address", ["5:14: client_set[0].addresses[0]: '10.0.0.256' is not an IP address"]),
    (
        "range_backwards",
        [
            "5:12: ip_filter[0].include[0]: '10.0.0.9-10.0.0.1' runs backwards "
            "(the first address is above the last)"
        ],
    ),
    ("range_mixed_families", ["5:12: ip_filter[0].exclude[0]: '10.0.0.1-::1' mixes IPv4 and IPv6"]),
    (
        "undefined_protocol",
        ["11:14: rule[0].protocols[0]: no protocol named 'FPT'; did you mean 'FTP'?"],
    ),
    ("undefined_user", ["10:10: rule[0].users[0]: no user named 'alcie'; did you mean 'alice'?"]),
    (
        "undefined_group",
        ["11:10: rule[0].users[0]: no user is in group 'staf'; did you mean 'staff'?"],
    ),
    ("undefined_client_set", ["7:12: rule[0].clients[0]: no client set named 'lan'"]),
    ("any_not_alone", ["11:1: rule[0].protocols: 'any' must be alone in its list"]),
    ("empty_list", ['6:1: rule[0].protocols: must not be empty (write ["any"] to mean all)']),
    (
        "except_any",
        [
            "7:1: rule[0].except_protocols: needs the protocols to leave out, not 'any' "
            "(that would leave out everything)"
        ],
    ),
    (
        "plaintext_password",
        [
            "5:1: user[0].password: is not a scrypt hash; plaintext passwords are refused "
            "(set one with `fwx rules passwd`)"
        ],
    ),
    (
        "missing_password",
        [
            "6:1: user[0].password: user 'alice' has no password but "
            'authentication = "password"; set one with `fwx rules passwd`'
        ],
    ),
    ("user_name_at", ["4:1: user[0].name: '@alice' must not start with '@' (it marks groups)"]),
    ("bad_group_name", ["5:11: user[0].groups[0]: '@staff' is not a group name"]),
    (
        "bad_listen",
        ["4:1: service.listen: 'localhost:1080': 'localhost' is not an IP address"],
    ),
    ("bad_external", ["4:1: service.external: '203.0.113.300' is not an IP address"]),
    (
        "bad_timeout",
        ["4:1: service.pending_bind_timeout: must be a positive number of seconds, not 0"],
    ),
    ("bad_max_binds", ["4:1: service.max_binds_per_session: must be at least 1, not 0"]),
    (
        "bad_bind_ports",
        ["4:1: service.bind_ports: ports 40000-70000 are out of range (1-65535)"],
    ),
    (
        "many_problems",
        [
            "4:1: service.listen: '127.0.0.1' is not IP:PORT (write IPv6 as [::1]:1080)",
            "8:1: protocol[0].guid: 'not-a-guid' is not a GUID "
            "(8-4-4-4-12 hex digits, braces optional)",
            "9:13: protocol[0].primary.port: port 70000 is out of range (1-65535)",
            "9:46: protocol[0].primary.direction: 'send' is not a tcp direction "
            "(use inbound, outbound)",
            "13:1: user[0].password: is not a scrypt hash; plaintext passwords are refused "
            "(set one with `fwx rules passwd`)",
            "17:1: rule[0].action: 'permit' is not one of allow, deny",
            "18:21: rule[0].protocols[1]: no protocol named 'HTTP'",
        ],
    ),
]


@pytest.mark.parametrize(("stem", "expected"), BAD_CASES, ids=[stem for stem, _ in BAD_CASES])
def test_bad_fixture_gives_its_exact_problems(stem: str, expected: list[str]) -> None:
    path = BAD / f"{stem}.toml"
    with pytest.raises(RuleFileError) as caught:
        load(path)
    assert [str(problem) for problem in caught.value.problems] == [
        f"{path}:{line}" for line in expected
    ]


def test_every_bad_fixture_has_a_case() -> None:
    assert sorted(path.stem for path in BAD.glob("*.toml")) == sorted(stem for stem, _ in BAD_CASES)


@pytest.mark.parametrize("path", sorted(GOOD.glob("*.toml")), ids=lambda path: path.stem)
def test_good_fixture_loads(path: Path) -> None:
    assert load(path).version == 1


def test_issue_example_loads_as_written() -> None:
    """R70-R73: the example of the issue, with a real hash in place of its placeholder."""
    ruleset = load(GOOD / "issue_example.toml")
    assert ruleset.service.pending_bind_timeout == 120.0
    assert ruleset.service.authentication is AuthMode.NONE
    ftp, dns, game = ruleset.protocols
    assert ftp.guid == uuid.UUID("a5b2c3d4-0000-4000-8000-000000000021")
    assert (ftp.primary.port, ftp.primary.transport, ftp.primary.direction) == (
        21,
        Transport.TCP,
        Direction.OUTBOUND,
    )
    assert (ftp.secondary[0].port_low, ftp.secondary[0].port_high) == (1024, 65535)
    assert ftp.filter == "ftp"
    assert dns.primary.direction is Direction.SEND_RECEIVE
    assert game.guid == uuid.UUID("a5b2c3d4-0000-4000-8000-000000007777")  # braces accepted
    assert ruleset.ip_filters[0].exclude == ("203.0.113.99",)
    assert ruleset.users[0].groups == ("staff",)
    allow, deny = ruleset.rules
    assert (allow.action, allow.protocols, allow.users, allow.clients) == (
        Action.ALLOW,
        ("FTP", "DNS"),
        ("@staff",),
        ("lan",),
    )
    assert (deny.action, deny.enabled) == (Action.DENY, False)


def test_every_key_fixture_reads_every_spelling() -> None:
    """R72, R82: table forms, integer ports, an upper-case braced GUID, except_protocols."""
    ruleset = load(GOOD / "every_key.toml")
    assert ruleset.service.bind_ports == (40000, 40999)
    assert ruleset.service.listen == "[::1]:1080"
    ftp, media = ruleset.protocols
    assert str(ftp.guid) == "a5b2c3d4-0000-4000-8000-000000000021"
    assert [s.ports_text for s in ftp.secondary] == ["1024-65535", "20"]
    assert media.primary.direction is Direction.RECEIVE_SEND
    assert ruleset.ip_filters[0].include == ()
    assert ruleset.rules[0].except_protocols
    assert ruleset.rules[1].users == ("bob",)
    assert ruleset.rules[1].clients == ("any",)  # the default


def test_loads_names_the_text_string_by_default() -> None:
    with pytest.raises(RuleFileError) as caught:
        loads("version = 3\n")
    assert (
        str(caught.value)
        == "<string>:1:1: version: unsupported version 3; this fwx reads version 1"
    )


def test_unreadable_file_is_reported_as_such(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(RuleFileUnreadable) as caught:
        load(missing)
    assert str(caught.value) == f"{missing}: cannot read the file: No such file or directory"
    with pytest.raises(RuleFileUnreadable):
        load(tmp_path)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbfversion = 1\n")
    assert load(path).version == 1


def test_a_bad_value_is_reported_once_not_again_by_the_semantic_checks() -> None:
    text = (
        'version = 1\n[[protocol]]\nname = "x"\nguid = "a5b2c3d4-0000-4000-8000-000000000021"\n'
        'primary = { port = 5, transport = "udpp", direction = "outbound" }\n'
    )
    with pytest.raises(RuleFileError) as caught:
        loads(text)
    assert [problem.key for problem in caught.value.problems] == ["protocol[0].primary.transport"]


def test_booleans_are_not_integers() -> None:
    text = (
        'version = 1\n[[protocol]]\nname = "x"\nguid = "a5b2c3d4-0000-4000-8000-000000000021"\n'
        'primary = { port = true, transport = "tcp", direction = "outbound" }\n'
    )
    with pytest.raises(RuleFileError) as caught:
        loads(text)
    assert caught.value.problems[0].message == "must be an integer, not a boolean"


def test_missing_passwords_can_be_tolerated_for_passwd() -> None:
    ruleset = load(BAD / "missing_password.toml", allow_missing_passwords=True)
    assert ruleset.users[0].password is None


KEYS = st.sampled_from(
    [
        "version", "service", "protocol", "ip_filter", "client_set", "user", "rule", "name",
        "guid", "primary", "secondary", "port", "ports", "transport", "direction", "filter",
        "include", "exclude", "addresses", "groups", "password", "action", "protocols", "users",
        "clients", "enabled", "except_protocols", "listen", "external", "bind_ports",
        "pending_bind_timeout", "authentication", "description", "other",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.sampled_from(["any", "tcp", "udp", "inbound", "send", "allow", "1-2", "10.0.0.0/8", ""]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_toml_document_loads_or_gives_problems_never_a_crash(
    document: dict[str, object],
) -> None:
    try:
        text = tomli_w.dumps(document)
    except (TypeError, ValueError):
        return  # not representable in TOML (e.g. mixed arrays in old tomli-w versions)
    refused: RuleFileError | None = None
    try:
        loads(text)
    except RuleFileError as err:
        refused = err
    if refused is not None:
        assert refused.problems
        assert all("\n" not in str(problem) for problem in refused.problems)
