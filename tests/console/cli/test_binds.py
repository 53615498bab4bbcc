"""`fwx binds …` against a real service with real SOCKS BIND and UDP ASSOCIATE clients."""

from __future__ import annotations

import json
import socket

import pytest

from console.cli.binds import find_bind, ip_filter_spec, overall_result
from engine.admin.snapshots import BindSnapshot, IpFilterSpec, RecheckResult
from engine.core.results import HResult
from tests.console.cli.live_service import (
    CLIENT,
    HOST,
    REMOTE,
    USER,
    LiveService,
    one_line,
    tcp_bind,
    udp_bind,
    wait_until,
)


def test_list_shows_a_pending_bind_with_who_made_it(service: LiveService) -> None:
    with tcp_bind(service) as (bind_id, (host, port)):
        [bind] = [b for b in service.json("binds", "list") if b["id"] == bind_id]
        assert (bind["state"], bind["transport"], bind["host"], bind["port"]) == (
            "pending",
            "tcp",
            host,
            port,
        )
        assert (bind["client"], bind["user"]) == (CLIENT, USER)
        table = service.cli("binds", "list")
        assert table.exit_code == 0
        assert "PENDING" in table.stdout
        assert str(port) in table.stdout


@pytest.mark.parametrize(
    ("options", "listed"),
    [
        (["--state", "pending"], True),
        (["--state", "allowed"], False),
        (["--user", USER], True),
        (["--user", "bob"], False),
        (["--state", "pending", "--user", USER], True),
    ],
)
def test_list_filters_by_state_and_user(
    service: LiveService, options: list[str], listed: bool
) -> None:
    with tcp_bind(service) as (bind_id, _):
        ids = [b["id"] for b in service.json("binds", "list", *options)]
        assert (bind_id in ids) is listed


def test_list_refuses_an_unknown_state(service: LiveService) -> None:
    result = service.cli("binds", "list", "--state", "sideways")
    assert result.exit_code == 2


def knock(address: tuple[str, int]) -> None:
    """A remote's connection attempt (from 127.0.0.73); a pending bind resets it."""
    try:
        with socket.create_connection(address, timeout=5, source_address=(REMOTE, 0)) as sock:
            assert sock.recv(1) == b""
    except ConnectionResetError:
        pass  # the reset may arrive while connect() still waits for the handshake's end


def test_r99_show_has_the_discards_by_reason_and_the_recent_ones(service: LiveService) -> None:
    """R99: a pending bind discards attempts and counts them by reason."""
    with tcp_bind(service) as (bind_id, address):
        knock(address)
        bind = wait_until(
            lambda: (b := service.bind(bind_id)) and b["discarded"] and b, "the discard is counted"
        )
        assert bind["discarded"] == [["pending", 1]]
        [recent] = bind["recent"]
        assert recent["remote"].startswith(f"{REMOTE}:")
        assert recent["reason"] == "pending"
        table = service.cli("binds", "show", str(bind_id))
        assert table.exit_code == 0
        for text in ("PENDING", "pending: 1", REMOTE, f"{CLIENT}"):
            assert text in table.stdout


def test_show_of_an_id_that_is_not_live_is_not_found(service: LiveService) -> None:
    result = service.cli("binds", "show", "999999")
    assert result.exit_code == 12
    assert one_line(result.stderr) == "fwx: no live bind with id 999999"


def test_r24_allow_then_allow_again_is_s_ok_then_s_false(service: LiveService) -> None:
    """R24: a second allow of an allowed bind answers S_FALSE (exit 10), nothing changes."""
    with tcp_bind(service) as (bind_id, _):
        first = service.cli("binds", "allow", str(bind_id), "--protocol", "FTP")
        assert first.exit_code == 0, first.output
        assert first.stdout.startswith(f"bind {bind_id}: S_OK (0x00000000): ")
        second = service.cli("binds", "allow", str(bind_id), "--protocol", "FTP")
        assert second.exit_code == 10
        assert "S_FALSE (0x00000001)" in second.stdout
        bind = service.bind(bind_id)
        assert bind is not None
        assert bind["state"] == "allowed"
        assert bind["allowed_by"] == "admin:root(uid 0)"


def test_allow_names_a_bind_by_its_address(service: LiveService) -> None:
    with tcp_bind(service) as (first_id, (host, port)), tcp_bind(service) as (second_id, other):
        by_address = service.cli("binds", "allow", f"{host}:{port}", "--protocol", "FTP")
        assert by_address.exit_code == 0, by_address.output
        assert by_address.stdout.startswith(f"bind {first_id}: S_OK")
        with_transport = service.cli(
            "binds", "allow", "tcp/{}:{}".format(*other), "--protocol", FTP_TEXT
        )
        assert with_transport.exit_code == 0, with_transport.output
        assert with_transport.stdout.startswith(f"bind {second_id}: S_OK")


FTP_TEXT = "{a5b2c3d4-0000-4000-8000-000000000021}"
"""FTP's GUID in braces, as the SDK writes it."""


def test_allow_at_an_address_without_a_bind_is_not_found(service: LiveService) -> None:
    result = service.cli("binds", "allow", f"{HOST}:9", "--protocol", "FTP")
    assert result.exit_code == 12
    assert one_line(result.stderr) == f"fwx: no live bind at {HOST}:9"


@pytest.mark.parametrize(
    ("options", "code", "name"),
    [
        (["--protocol", "Telnet"], 16, "FWX_E_PROTOCOL_RULES_DENIED"),
        (["--protocol", "FTP", "--include", "banana"], 11, "E_INVALIDARG"),
        (["--protocol", "no-such-protocol"], 11, "E_INVALIDARG"),
        (["--protocol", "FTP", "--ip-filter", "missing"], 11, "E_INVALIDARG"),
        (["--protocol", "FTP", "--bidirectional"], 11, "E_INVALIDARG"),
    ],
)
def test_allow_exits_with_the_result_code(
    service: LiveService, options: list[str], code: int, name: str
) -> None:
    """R21, R22, R34: refusals of the engine, each with its exit code, the bind unchanged."""
    with tcp_bind(service) as (bind_id, _):
        result = service.cli("binds", "allow", str(bind_id), *options)
        assert result.exit_code == code
        assert one_line(result.stderr).startswith(f"bind {bind_id}: {name} (0x")
        assert result.stdout == ""
        bind = service.bind(bind_id)
        assert bind is not None
        assert bind["state"] == "pending"


def test_allow_of_an_id_that_is_not_live_is_not_found(service: LiveService) -> None:
    result = service.cli("binds", "allow", "999999", "--protocol", "FTP", "--json")
    assert result.exit_code == 12
    assert json.loads(result.stdout) == "NOT_FOUND"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], None),
        (["--block-all"], []),
        (["--ip-filter", "documentation networks"], ["192.0.2.0/24", "198.51.100.0/24"]),
        (["--include", "127.0.0.0/29", "--exclude", "127.0.0.4"], None),
    ],
)
def test_the_ip_filter_options_become_the_binds_filter(
    service: LiveService, options: list[str], expected: list[str] | None
) -> None:
    with tcp_bind(service) as (bind_id, _):
        result = service.cli("binds", "allow", str(bind_id), "--protocol", "FTP", *options)
        assert result.exit_code == 0, result.output
        bind = service.bind(bind_id)
        assert bind is not None
        if "--include" in options:
            assert bind["ip_filter"] == ["127.0.0.0/30", "127.0.0.5-127.0.0.7"]
        else:
            assert bind["ip_filter"] == expected


@pytest.mark.parametrize(
    "options",
    [
        ["--block-all", "--include", "10.0.0.0/8"],
        ["--block-all", "--ip-filter", "documentation networks"],
        ["--ip-filter", "documentation networks", "--exclude", "10.0.0.1"],
        ["--exclude", "10.0.0.1"],
    ],
)
def test_ip_filter_options_that_make_no_sense_together_are_a_usage_error(
    service: LiveService, options: list[str]
) -> None:
    result = service.cli("binds", "allow", "1", "--protocol", "FTP", *options)
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith("fwx: --")


def test_r31_a_udp_bind_is_allowed_bidirectional_and_gets_an_opening(
    service: LiveService,
) -> None:
    """R31: BIDIRECTIONAL is valid for UDP binds; the allowed bind has an opening."""
    with udp_bind(service) as bind_id:
        result = service.cli(
            "binds",
            "allow",
            str(bind_id),
            "--protocol",
            "Media",
            "--bidirectional",
            "--increase-receive-buffer",
        )
        assert result.exit_code == 0, result.output
        bind = service.bind(bind_id)
        assert bind is not None
        assert bind["flags"] == 3
        openings = {o["bind_id"]: o for o in service.json("openings", "list")}
        assert openings[bind_id]["transport"] == "udp"
        assert openings[bind_id]["remote"] is None


def test_r23_terminate_ends_the_bind_then_it_is_gone(service: LiveService) -> None:
    with tcp_bind(service) as (bind_id, _):
        done = service.run("binds", "terminate", str(bind_id))
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            f"bind {bind_id}: S_OK (0x00000000): "
            "the bind is ending: its socket is closed, its opening removed\n"
        )
        wait_until(lambda: service.bind(bind_id) is None, "the bind is closed")
        again = service.cli("binds", "terminate", str(bind_id))
        assert again.exit_code == 12
        assert "NOT_FOUND" in again.stderr or "ERROR_NOT_FOUND" in again.stderr


def test_recheck_answers_per_bind_and_exits_with_the_first_failure(service: LiveService) -> None:
    """R11: the bind-time decision again: no inbound protocol on these ports, so still denied."""
    with tcp_bind(service) as (pending, _), tcp_bind(service) as (allowed, _):
        assert service.cli("binds", "allow", str(allowed), "--protocol", "FTP").exit_code == 0
        results = service.cli("binds", "recheck", str(allowed), str(pending), "--json")
        assert results.exit_code == 16
        assert json.loads(results.stdout) == [
            {"bind_id": allowed, "result": "S_FALSE"},
            {"bind_id": pending, "result": "FWX_E_PROTOCOL_RULES_DENIED"},
        ]
        only_allowed = service.cli("binds", "recheck", str(allowed))
        assert only_allowed.exit_code == 10
        assert f"bind {allowed}: S_FALSE" in only_allowed.stdout


def test_recheck_without_ids_takes_every_pending_bind(service: LiveService) -> None:
    with tcp_bind(service) as (pending, _):
        result = service.cli("binds", "recheck", "--json")
        ids = [item["bind_id"] for item in json.loads(result.stdout)]
        assert pending in ids
        gone = service.cli("binds", "recheck", "999999")
        assert gone.exit_code == 12


def _snapshot(bind_id: int, transport: str, host: str, port: int) -> BindSnapshot:
    return BindSnapshot(
        bind_id, 1, CLIENT, None, transport, host, port, "pending", None, None, 0, None, 0, (),
        (), None, None, 0.0, None,
    )  # fmt: skip


def test_an_address_naming_a_tcp_and_a_udp_bind_is_ambiguous() -> None:
    binds = [_snapshot(1, "tcp", HOST, 40000), _snapshot(2, "udp", HOST, 40000)]
    with pytest.raises(ValueError, match="names more than one bind"):
        find_bind(f"{HOST}:40000", binds)
    assert find_bind(f"udp/{HOST}:40000", binds) == binds[1]
    assert find_bind(f"tcp/{HOST}:40000", binds) == binds[0]
    assert find_bind(f"{HOST}:40001", binds) is None


def test_addresses_in_v6_and_on_every_address_are_found() -> None:
    binds = [_snapshot(1, "udp", "::1", 5000), _snapshot(2, "tcp", "0.0.0.0", 6000)]
    assert find_bind("[::1]:5000", binds) == binds[0]
    assert find_bind("[0:0::1]:5000", binds) == binds[0]
    assert find_bind("127.0.0.9:6000", binds) == binds[1]
    malformed = {
        "::1:5000": "write an IPv6 address in brackets",
        "sctp/127.0.0.1:1": "write tcp/HOST:PORT or udp/HOST:PORT",
        "127.0.0.1": "is not HOST:PORT",
        "host:1": "is not an IP address",
    }
    for text, message in malformed.items():
        with pytest.raises(ValueError, match=message):
            find_bind(text, binds)


def test_ip_filter_specs_from_options() -> None:
    assert ip_filter_spec((), (), None, False) == IpFilterSpec("none")
    assert ip_filter_spec((), (), None, True) == IpFilterSpec("block")
    assert ip_filter_spec((), (), "lan", False) == IpFilterSpec("set", set_name="lan")
    assert ip_filter_spec(["10.0.0.0/8"], ["10.0.0.1"], None, False) == IpFilterSpec(
        "ranges", include=("10.0.0.0/8",), exclude=("10.0.0.1",)
    )


def test_the_overall_result_of_a_recheck() -> None:
    def results(*codes: HResult) -> list[RecheckResult]:
        return [RecheckResult(index, code) for index, code in enumerate(codes)]

    assert overall_result([]) is HResult.S_OK
    assert overall_result(results(HResult.S_OK, HResult.S_FALSE)) is HResult.S_FALSE
    assert (
        overall_result(results(HResult.S_FALSE, HResult.NOT_FOUND, HResult.FWX_E_TERMINATING))
        is HResult.NOT_FOUND
    )
