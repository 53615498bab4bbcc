"""Semantic checks on rule sets built in code, as the console builds them."""

from __future__ import annotations

import dataclasses
import math
import uuid

import pytest

from rules.model import (
    Action,
    AuthMode,
    ClientSet,
    Direction,
    IpFilterSet,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    SecondaryConnection,
    ServiceConfig,
    Transport,
    User,
)
from rules.passwords import hash_password
from rules.validate import validate

FTP_GUID = uuid.UUID("a5b2c3d4-0000-4000-8000-000000000021")
FTP = ProtocolDefinition(
    guid=FTP_GUID,
    name="FTP",
    primary=PrimaryConnection(21, Transport.TCP, Direction.OUTBOUND),
    secondary=(SecondaryConnection(1024, 65535, Transport.TCP, Direction.INBOUND),),
    filter="ftp",
)
HASH = hash_password("secret")
BASE = RuleSet(
    protocols=(FTP,),
    ip_filters=(IpFilterSet("partners", ("203.0.113.0/24",), ("203.0.113.9",)),),
    client_sets=(ClientSet("lan", ("10.0.0.0/8", "::1")),),
    users=(User("alice", ("staff",), HASH),),
    rules=(ProtocolRule("staff ftp", Action.ALLOW, ("FTP",), ("@staff",), ("lan",)),),
)


def messages(ruleset: RuleSet) -> list[str]:
    return [str(problem) for problem in validate(ruleset)]


def with_primary(port: int, transport: Transport, direction: Direction) -> RuleSet:
    proto = dataclasses.replace(FTP, primary=PrimaryConnection(port, transport, direction))
    return dataclasses.replace(BASE, protocols=(proto,))


def test_a_valid_rule_set_has_no_problems() -> None:
    assert validate(BASE) == []
    assert validate(RuleSet()) == []


def test_problems_of_a_rule_set_in_code_have_no_path_or_line() -> None:
    (problem,) = validate(dataclasses.replace(BASE, version=2))
    assert (problem.path, problem.line, problem.col) == ("", None, None)
    assert str(problem) == "version: unsupported version 2; this fwx reads version 1"


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_r72_primary_port_must_be_1_to_65535(port: int) -> None:
    assert messages(with_primary(port, Transport.TCP, Direction.OUTBOUND)) == [
        f"protocol[0].primary.port: port {port} is out of range (1-65535)"
    ]


def test_r72_secondary_port_range_must_be_in_range_and_ordered() -> None:
    proto = dataclasses.replace(
        FTP,
        secondary=(
            SecondaryConnection(0, 10, Transport.TCP, Direction.INBOUND),
            SecondaryConnection(30, 20, Transport.UDP, Direction.RECEIVE),
        ),
    )
    assert messages(dataclasses.replace(BASE, protocols=(proto,))) == [
        "protocol[0].secondary[0].ports: ports 0-10 are out of range (1-65535)",
        "protocol[0].secondary[1].ports: ports 30-20 run backwards",
    ]


@pytest.mark.parametrize(
    ("transport", "direction"),
    [(Transport.TCP, Direction.SEND_RECEIVE), (Transport.UDP, Direction.INBOUND)],
)
def test_r73_direction_must_suit_the_transport(transport: Transport, direction: Direction) -> None:
    (problem,) = validate(with_primary(53, transport, direction))
    assert problem.key == "protocol[0].primary.direction"
    assert f"is not a {transport.label} direction" in problem.message


@pytest.mark.parametrize("direction", list(Direction))
def test_r73_every_direction_is_valid_for_its_own_transports(direction: Direction) -> None:
    for transport in direction.transports:
        assert validate(with_primary(53, transport, direction)) == []


def test_r70_guids_are_unique() -> None:
    twin = dataclasses.replace(FTP, name="FTP twin")
    assert messages(dataclasses.replace(BASE, protocols=(FTP, twin))) == [
        f"protocol[1].guid: duplicate GUID {FTP_GUID} (also protocol[0])"
    ]


def test_names_are_unique_per_kind_but_may_repeat_across_kinds() -> None:
    ruleset = dataclasses.replace(
        BASE,
        client_sets=(ClientSet("FTP", ("10.0.0.1",)), ClientSet("FTP", ("10.0.0.2",))),
        rules=(ProtocolRule("FTP", Action.ALLOW, ("FTP",)),),
    )
    assert messages(ruleset) == ["client_set[1].name: duplicate name 'FTP' (also client_set[0])"]


def test_names_must_be_trimmed() -> None:
    ruleset = dataclasses.replace(BASE, users=(User(" alice", ("staff",), HASH),))
    assert "user[0].name: ' alice' has spaces at either end" in messages(ruleset)


def test_rules_may_name_protocols_by_guid_with_or_without_braces() -> None:
    spellings = (str(FTP_GUID), "{" + str(FTP_GUID).upper() + "}")
    rule = ProtocolRule("by guid", Action.DENY, spellings)
    assert validate(dataclasses.replace(BASE, rules=(rule,))) == []


def test_a_group_exists_when_some_user_lists_it() -> None:
    rule = ProtocolRule("guests", Action.DENY, ("any",), ("@guests",))
    assert messages(dataclasses.replace(BASE, rules=(rule,))) == [
        "rule[0].users[0]: no user is in group 'guests'"
    ]
    guest = User("gus", ("guests",), HASH)
    assert validate(dataclasses.replace(BASE, users=(*BASE.users, guest), rules=(rule,))) == []


@pytest.mark.parametrize("field", ["users", "clients"])
def test_any_must_be_alone(field: str) -> None:
    rule = dataclasses.replace(
        BASE.rules[0], **{field: ("any", "lan" if field == "clients" else "alice")}
    )
    assert messages(dataclasses.replace(BASE, rules=(rule,))) == [
        f"rule[0].{field}: 'any' must be alone in its list"
    ]


def test_missing_password_is_an_error_only_with_password_authentication() -> None:
    users = (User("alice", ("staff",)),)
    assert validate(dataclasses.replace(BASE, users=users)) == []
    secured = dataclasses.replace(
        BASE, users=users, service=ServiceConfig(authentication=AuthMode.PASSWORD)
    )
    assert [problem.key for problem in validate(secured)] == ["user[0].password"]
    assert validate(secured, allow_missing_passwords=True) == []


def test_a_plaintext_password_is_refused_and_not_echoed() -> None:
    ruleset = dataclasses.replace(BASE, users=(User("alice", ("staff",), "hunter2"),))
    (problem,) = validate(ruleset)
    assert problem.key == "user[0].password"
    assert "hunter2" not in problem.message


def test_address_specs_are_checked_in_ip_filters_and_client_sets() -> None:
    ruleset = dataclasses.replace(
        BASE,
        ip_filters=(IpFilterSet("bad", ("10.0.0.0/33",)),),
        client_sets=(ClientSet("lan", ("10.0.0.0/8",), ("nonsense",)),),
    )
    assert messages(ruleset) == [
        "ip_filter[0].include[0]: '10.0.0.0/33' is not a valid CIDR block",
        "client_set[0].exclude[0]: 'nonsense' is not an IP address",
    ]


@pytest.mark.parametrize("listen", ["127.0.0.1:1080", "0.0.0.0:0", "[::1]:1080", "[::]:65535"])
def test_listen_accepts_ip_and_port(listen: str) -> None:
    assert validate(dataclasses.replace(BASE, service=ServiceConfig(listen=listen))) == []


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("127.0.0.1", "'127.0.0.1' is not IP:PORT (write IPv6 as [::1]:1080)"),
        ("::1:1080", "'::1:1080' is not IP:PORT (write IPv6 as [::1]:1080)"),
        ("[127.0.0.1]:80", "'[127.0.0.1]:80': only IPv6 addresses go in brackets"),
        ("127.0.0.1:70000", "'127.0.0.1:70000': port 70000 is out of range (0-65535)"),
    ],
)
def test_listen_rejects_anything_else(listen: str, message: str) -> None:
    ruleset = dataclasses.replace(BASE, service=ServiceConfig(listen=listen))
    assert messages(ruleset) == [f"service.listen: {message}"]


def test_timeouts_must_be_positive_and_finite() -> None:
    service = ServiceConfig(pending_bind_timeout=math.inf, udp_peer_timeout=-1.0)
    assert messages(dataclasses.replace(BASE, service=service)) == [
        "service.pending_bind_timeout: must be a positive number of seconds, not inf",
        "service.udp_peer_timeout: must be a positive number of seconds, not -1",
    ]


def test_bind_ports_must_be_an_ordered_range() -> None:
    service = ServiceConfig(bind_ports=(41000, 40000))
    assert messages(dataclasses.replace(BASE, service=service)) == [
        "service.bind_ports: ports 41000-40000 run backwards"
    ]
