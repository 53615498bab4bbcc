"""What the dialogs check as the operator types: IP filter specs, protocol fields, defaults."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from console.tui.definitions import parse_definition
from console.tui.dialogs.allow import suggest_protocol
from console.tui.dialogs.ip_filter_picker import spec_problems, split_specs
from console.tui.dialogs.rule_form import split_list
from engine.admin.snapshots import BindSnapshot, IpFilterSpec, ProtocolSnapshot
from rules.model import Direction, Transport


def test_specs_split_on_commas_and_spaces() -> None:
    assert split_specs(" 10.0.0.1, 10.0.0.0/8  2001:db8::/32,") == (
        "10.0.0.1",
        "10.0.0.0/8",
        "2001:db8::/32",
    )


def test_typed_ranges_are_checked_with_the_rule_file_parser() -> None:
    good = IpFilterSpec("ranges", include=("127.0.0.2", "10.0.0.0/8"), exclude=("10.1.0.0/16",))
    assert spec_problems(good, []) == []
    bad = IpFilterSpec("ranges", include=("10.0.0.1/8", "banana"))
    problems = spec_problems(bad, [])
    assert len(problems) == 2
    assert problems[0].startswith("include: ")
    assert spec_problems(IpFilterSpec("ranges"), []) == [
        "include: type at least one address, CIDR or range"
    ]


def test_a_named_set_must_be_picked() -> None:
    assert spec_problems(IpFilterSpec("set", set_name="lan"), ["lan"]) == []
    assert spec_problems(IpFilterSpec("set"), ["lan"]) == ["pick a set"]
    assert spec_problems(IpFilterSpec("set"), []) == [
        "pick a named set (the rule file defines none)"
    ]
    assert spec_problems(IpFilterSpec("none"), []) == []
    assert spec_problems(IpFilterSpec("block"), []) == []


FIELDS = {
    "name": "media",
    "guid": "{00000000-0000-0000-0000-00000000002a}",
    "port": "5004",
    "transport": "udp",
    "direction": "send-receive",
    "secondary": "udp 5000-5010 receive; tcp 20 inbound",
    "filter": "",
    "description": "a note",
}


def test_register_fields_make_a_definition() -> None:
    definition = parse_definition(FIELDS)
    assert definition.guid == uuid.UUID(int=42)
    assert definition.primary.port == 5004
    assert definition.primary.direction is Direction.SEND_RECEIVE
    assert [(s.port_low, s.port_high, s.transport) for s in definition.secondary] == [
        (5000, 5010, Transport.UDP),
        (20, 20, Transport.TCP),
    ]
    assert definition.filter is None
    assert definition.description == "a note"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("guid", "nope", "is not a GUID"),
        ("port", "", "is not a number"),
        ("transport", "sctp", "is not a transport"),
        ("direction", "sideways", "is not a direction"),
        ("secondary", "udp 5000", "write TRANSPORT PORTS DIRECTION"),
        ("secondary", "udp 5-x receive", "is not a port or a range"),
    ],
)
def test_register_fields_that_do_not_parse_say_why(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_definition({**FIELDS, field: value})


def test_rule_lists_default_to_any() -> None:
    assert split_list(" FTP , HTTP ") == ("FTP", "HTTP")
    assert split_list("  ") == ("any",)


def _protocol(name: str, inbound: tuple[tuple[str, int, int], ...]) -> ProtocolSnapshot:
    return ProtocolSnapshot(str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), name, "", (), None, "",
                            "rules", inbound)  # fmt: skip


def test_the_allow_dialog_proposes_a_protocol_meant_for_the_bind() -> None:
    http, ftp = _protocol("HTTP", ()), _protocol("FTP", (("tcp", 1024, 65535),))
    bind = BindSnapshot(
        1, 1, "127.0.0.5", None, "tcp", "127.0.0.1", 40000, "pending",
        None, None, 0, None, 0, (), (), None, None, 0.0, None,
    )  # fmt: skip
    assert suggest_protocol(bind, [http, ftp]) == ftp.guid
    assert suggest_protocol(dataclasses.replace(bind, port=80), [http, ftp]) == http.guid
    assert suggest_protocol(dataclasses.replace(bind, protocol=http.guid), [http, ftp]) == http.guid
    assert suggest_protocol(bind, []) is None
    narrow = _protocol("demo call-back", (("tcp", 40000, 40003),))
    assert suggest_protocol(bind, [http, ftp, narrow]) == narrow.guid
