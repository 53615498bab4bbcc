"""`fwx rules reload` against a real service: what changed, the binds concerned, re-checks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.console.cli.live_service import LiveService, rules_text, tcp_bind


@pytest.fixture(autouse=True)
def original_rules(service: LiveService) -> Iterator[None]:
    """Every test starts and ends with the original rule file in force."""
    yield
    service.rules.write_text(rules_text())
    assert service.cli("rules", "reload").exit_code == 0


def callback_rules(port: int) -> str:
    """The rules plus a protocol whose inbound primary connection is ``port``, allowed."""
    return rules_text(
        f"""
[[protocol]]
name = "Callback"
guid = "c0c0c0c0-0000-4000-8000-000000000001"
primary = {{ port = {port}, transport = "tcp", direction = "inbound" }}

[[rule]]
name = "loopback may be called back"
action = "allow"
protocols = ["Callback"]
users = ["any"]
clients = ["loopback"]
"""
    )


def test_reload_of_an_unchanged_file_says_so(service: LiveService) -> None:
    result = service.cli("rules", "reload")
    assert result.exit_code == 0, result.output
    assert result.stdout == "rules reloaded: no change\n"


def test_r85_reload_names_the_pending_binds_it_concerns_and_how_to_recheck(
    service: LiveService,
) -> None:
    """R85: a reload never approves a pending bind by itself; it says which and how."""
    with tcp_bind(service) as (bind_id, (_, port)):
        service.rules.write_text(callback_rules(port))
        done = service.run("rules", "reload")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("rules reloaded: 1 protocol added, 1 rule added")
        assert "  protocols added: Callback" in lines
        assert "  rules added: loopback may be called back" in lines
        assert any(line.startswith(f"  bind {bind_id}  tcp/") for line in lines)
        assert lines[-1] == f"re-check them with: fwx binds recheck {bind_id}"
        bind = service.bind(bind_id)
        assert bind is not None
        assert bind["state"] == "pending"
        recheck = service.cli("binds", "recheck", str(bind_id))
        assert recheck.exit_code == 0, recheck.output
        bind = service.bind(bind_id)
        assert bind is not None
        assert bind["state"] == "allowed"


def test_reload_recheck_allows_them_at_once(service: LiveService) -> None:
    with tcp_bind(service) as (bind_id, (_, port)):
        service.rules.write_text(callback_rules(port))
        result = service.cli("rules", "reload", "--recheck", "--json")
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["reload"]["result"] == "S_OK"
        assert answer["reload"]["protocols_added"] == ["Callback"]
        assert [bind["id"] for bind in answer["reload"]["would_differ"]] == [bind_id]
        assert answer["recheck"] == [{"bind_id": bind_id, "result": "S_OK"}]
        bind = service.bind(bind_id)
        assert bind is not None
        assert bind["state"] == "allowed"


def test_an_invalid_file_changes_nothing_and_lists_every_problem(service: LiveService) -> None:
    before = service.json("protocols", "list")
    broken = (
        rules_text()
        .replace('name = "Media"', 'name = "FTP"')
        .replace('direction = "send" }', 'direction = "sideways" }')
    )
    service.rules.write_text(broken)
    result = service.cli("rules", "reload")
    assert result.exit_code == 1
    *problems, last = result.stderr.strip().splitlines()
    assert any("duplicate name 'FTP'" in line for line in problems)
    assert any("sideways" in line for line in problems)
    assert all(line.startswith(f"{service.rules}:") for line in problems)
    assert last == "fwx: reload refused: the rules in force stay"
    assert result.stdout == ""
    assert service.json("protocols", "list") == before
    as_json = service.cli("rules", "reload", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["reload"]["result"] == "E_INVALIDARG"
