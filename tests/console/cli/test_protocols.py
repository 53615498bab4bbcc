"""`fwx protocols …`: live and persisted registrations against a real service."""

from __future__ import annotations

import json
import uuid

import pytest

from console.cli.protocols import definition_from_options
from rules.loader import load
from rules.model import Direction, SecondaryConnection, Transport
from tests.console.cli.live_service import LiveService, one_line


def test_list_shows_the_rule_files_protocols(service: LiveService) -> None:
    protocols = {p["name"]: p for p in service.json("protocols", "list")}
    assert set(protocols) >= {"FTP", "Media", "Telnet"}
    assert protocols["FTP"]["source"] == "rules"
    assert protocols["FTP"]["guid"] == "a5b2c3d4-0000-4000-8000-000000000021"
    table = service.cli("protocols", "list")
    assert table.exit_code == 0
    assert "Telnet" in table.stdout


def register(service: LiveService, name: str, guid: str, *extra: str) -> list[str]:
    return [
        "protocols", "register", "--name", name, "--port", "7000", "--transport", "tcp",
        "--direction", "inbound", "--guid", guid, *extra,
    ]  # fmt: skip


def test_r70_register_is_live_and_persisted_then_unregister_removes_it(
    service: LiveService,
) -> None:
    """R70: a protocol is its GUID; registering twice is ALREADY_EXISTS (exit 13)."""
    guid = str(uuid.uuid4())
    secondary = ("--secondary", "udp 5000-5010 receive", "--description", "call-backs")
    done = service.run(*register(service, "Callback", guid, *secondary))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"protocol Callback ({guid}): S_OK (0x00000000): 1 protocol added\n"
    [saved] = [p for p in load(service.rules).protocols if p.name == "Callback"]
    assert str(saved.guid) == guid
    assert saved.secondary == (SecondaryConnection(5000, 5010, Transport.UDP, Direction.RECEIVE),)
    assert saved.description == "call-backs"
    listed = {p["name"]: p for p in service.json("protocols", "list")}
    assert listed["Callback"]["guid"] == guid

    again = service.cli(*register(service, "Callback again", guid), "--json")
    assert again.exit_code == 13
    assert json.loads(again.stdout)["result"] == "ALREADY_EXISTS"

    gone = service.cli("protocols", "unregister", "Callback")
    assert gone.exit_code == 0, gone.output
    assert gone.stdout == "protocol Callback: S_OK (0x00000000): 1 protocol removed\n"
    assert "Callback" not in [p.name for p in load(service.rules).protocols]
    assert "Callback" not in [p["name"] for p in service.json("protocols", "list")]


@pytest.mark.parametrize(
    ("name", "direction", "problem"),
    [
        ("Callback", "receive", "primary.direction: 'receive' is not a tcp direction"),
        ("FTP", "inbound", "duplicate name 'FTP'"),
    ],
)
def test_r73_a_definition_the_rules_refuse_is_each_problem_then_exit_11(
    service: LiveService, name: str, direction: str, problem: str
) -> None:
    """R73: TCP directions are inbound and outbound; names are unique. Nothing changes."""
    command = register(service, name, str(uuid.uuid4()))
    command[command.index("inbound")] = direction
    before = service.rules.read_text()
    result = service.cli(*command)
    assert result.exit_code == 11
    *problems, last = result.stderr.strip().splitlines()
    assert any(problem in line for line in problems), problems
    assert last.startswith(f"fwx: protocol {name} (")
    assert "E_INVALIDARG (0x80070057)" in last
    assert result.stdout == ""
    assert service.rules.read_text() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--secondary", "udp 5000"), "write TRANSPORT PORTS DIRECTION"),
        (("--secondary", "sctp 5000 receive"), "is not a transport"),
    ],
)
def test_register_fields_that_do_not_parse_are_a_usage_error(
    service: LiveService, extra: tuple[str, ...], message: str
) -> None:
    result = service.cli(*register(service, "X", str(uuid.uuid4()), *extra))
    assert result.exit_code == 2
    assert message in one_line(result.stderr)


def test_a_bad_guid_is_a_usage_error(service: LiveService) -> None:
    result = service.cli(*register(service, "X", "not-a-guid"))
    assert result.exit_code == 2
    assert one_line(result.stderr) == "fwx: guid: 'not-a-guid' is not a GUID"


def test_unregister_of_an_unknown_protocol_is_not_found(service: LiveService) -> None:
    result = service.cli("protocols", "unregister", "no-such-protocol")
    assert result.exit_code == 12
    assert one_line(result.stderr) == (
        "fwx: protocol no-such-protocol: HRESULT_FROM_WIN32(ERROR_NOT_FOUND) (0x80070490): "
        "'no-such-protocol' is neither a GUID nor the name of a known protocol"
    )


def test_a_definition_gets_a_fresh_guid_when_none_is_given() -> None:
    options = {
        "name": "X", "port": 7, "transport": "udp", "direction": "send-receive",
        "secondary": (), "filter_name": None, "description": "",
    }  # fmt: skip
    first = definition_from_options(guid=None, **options)  # type: ignore[arg-type]
    second = definition_from_options(guid=None, **options)  # type: ignore[arg-type]
    assert first.guid != second.guid
    assert first.primary.direction is Direction.SEND_RECEIVE
