"""`fwx simulate`: tables, JSON lines, exit codes, and the example traces under examples/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from console.cli import common
from console.cli.main import app
from console.cli.simulate import WIDE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RULES = EXAMPLES / "rules.toml"

runner = CliRunner()


def simulate(*args: str | Path) -> Result:
    result = runner.invoke(app, ["simulate", *(str(arg) for arg in args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def json_lines(trace: Path, rules: Path = RULES) -> list[dict[str, Any]]:
    result = simulate(trace, "--rules", rules, "--json")
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def outcome(line: dict[str, Any]) -> str:
    """``S_OK`` or ``discard (pending)``: what the table's result column shows."""
    if "result" in line:
        return str(line["result"])
    if "verdict" in line:
        return f"{line['verdict']} ({line['reason']})"
    return ""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- output ---------------------------------------------------------------------------


def test_a_table_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.stdout, "width", WIDE)
    result = simulate(EXAMPLES / "ftp-active.toml", "--rules", RULES)
    assert result.exit_code == 0
    assert result.stderr == ""
    header = next(line for line in result.stdout.splitlines() if "detail" in line)
    assert header.split() == ["#", "time", "op", "subject", "result", "state", "detail"]
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("4 "))
    assert row.split()[:7] == ["4", "0", "inbound", "data", "#1", "discard", "(pending)"]


def test_a_narrow_terminal_gets_two_lines_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.stdout, "width", 80)
    result = simulate(EXAMPLES / "ftp-active.toml", "--rules", RULES)
    lines = result.stdout.splitlines()
    first = lines.index(next(line for line in lines if line.strip().startswith("6 ")))
    assert lines[first].split() == [
        "6",
        "0s",
        "retroactive_allow_bind",
        "data",
        "#1",
        "S_OK",
        "allowed",
    ]
    assert "ip_filter ftp-servers" in lines[first + 1]


def test_json_lines_one_per_step() -> None:
    lines = json_lines(EXAMPLES / "ftp-active.toml")
    assert [line["step"] for line in lines] == list(range(1, len(lines) + 1))
    assert all({"step", "op", "time", "events"} <= line.keys() for line in lines)
    bind = lines[2]
    assert {key: bind[key] for key in ("op", "result", "hresult", "bind", "state")} == {
        "op": "bind",
        "result": "S_OK",
        "hresult": "0x00000000",
        "bind": 1,
        "state": "pending",
    }


# -- exit codes ---------------------------------------------------------------------


def test_a_malformed_trace_exits_1_with_every_problem(tmp_path: Path) -> None:
    trace = write(
        tmp_path / "bad.toml",
        '[[step]]\nop = "session"\nid = "s1"\nclient = "10.0.0.1"\n\n'
        '[[step]]\nop = "bind"\nsession = "s2"\ntransport = "tcp"\naddress = "1.2.3.4"\n',
    )
    result = simulate(trace, "--rules", RULES)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{trace}:8: step[2].session: unknown session 's2': expected the id of an earlier "
        "session step ('s1')",
        f"{trace}:10: step[2].address: '1.2.3.4' has no port (write IP:port)",
        f"fwx: {trace}: 2 problems",
    ]


def test_a_trace_with_a_syntax_error_exits_1(tmp_path: Path) -> None:
    trace = write(tmp_path / "broken.toml", "[[step]\n")
    result = simulate(trace, "--rules", RULES)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{trace}:1:")
    assert "TOML syntax error" in result.stderr


def test_a_malformed_rule_file_exits_1(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.toml", "version = 1\n[service]\npacket_filtering = 1\n")
    result = simulate(EXAMPLES / "ftp-active.toml", "--rules", rules)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{rules}:3:")
    assert "service.packet_filtering" in lines[0]
    assert lines[-1] == f"fwx: {rules}: 1 problem"


def test_unreadable_files_exit_3(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert simulate(missing, "--rules", RULES).exit_code == 3
    assert simulate(EXAMPLES / "faults.toml", "--rules", missing).exit_code == 3


def test_the_rules_option_is_required() -> None:
    assert simulate(EXAMPLES / "faults.toml").exit_code == 2


def test_a_trace_runs_whatever_its_results(tmp_path: Path) -> None:
    """Exit 0 even when every step is refused: the results are the answer."""
    trace = write(
        tmp_path / "refused.toml",
        '[[step]]\nop = "session"\nid = "s1"\nclient = "10.0.0.1"\n\n'
        '[[step]]\nop = "retroactive_allow_bind"\nsession = "s1"\nprotocol = "tcp"\n'
        'address = "198.51.100.1:1"\nprotocol_guid = "FTP"\n',
    )
    lines = json_lines(trace)
    assert lines[1]["result"] == "NOT_FOUND"


# -- the examples, with the rules they show --------------------------------------------


def test_example_ftp_active() -> None:
    """R12 pending discards, R26 retroactive allow, R28/R94 the IP filter, R24 S_FALSE,
    R33/R90 openings exist exactly while the bind is allowed."""
    lines = json_lines(EXAMPLES / "ftp-active.toml")
    assert [(line["op"], outcome(line)) for line in lines] == [
        ("session", ""),
        ("connect", "accept (allowed)"),
        ("bind", "S_OK"),
        ("inbound", "discard (pending)"),
        ("openings", ""),
        ("retroactive_allow_bind", "S_OK"),
        ("openings", ""),
        ("inbound", "discard (ip-filter)"),
        ("inbound", "accept (allowed)"),
        ("retroactive_allow_bind", "S_FALSE"),
        ("inbound", "discard (no-bind)"),
        ("close", "S_OK"),
        ("openings", ""),
    ]
    assert lines[4]["openings"] == []
    assert lines[6]["openings"] == [
        {
            "transport": "tcp",
            "address": "198.51.100.1:40000",
            "remote": ["192.0.2.10"],
            "bind": 1,
            "bind_name": "data",
        }
    ]
    assert lines[12]["openings"] == []
    assert lines[5]["state"] == "allowed"
    assert lines[11]["state"] == "closed"


def test_example_udp_media() -> None:
    """Send-receive responses, R12 for unsolicited datagrams, R31 BIDIRECTIONAL, R28 the
    filter set, the peer window and the pending time-out (which never approves)."""
    lines = json_lines(EXAMPLES / "udp-media.toml")
    assert [outcome(line) for line in lines if line["op"].startswith("datagram")] == [
        "accept (allowed)",
        "accept (response)",
        "discard (pending)",
        "accept (allowed)",
        "accept (bidirectional)",
        "discard (rules)",
        "discard (ip-filter)",
        "discard (pending)",
        "discard (no-bind)",
    ]
    allow = lines[6]
    assert (allow["result"], allow["flags"], allow["ip_filter"]) == ("S_OK", 3, "media-servers")
    expired = [event["kind"] for event in lines[14]["events"]]
    assert "bind-expired" in expired
    assert "bind-allowed" not in expired
    assert lines[14]["time"] == 121


def test_example_faults() -> None:
    """Every result code in R34's check order: R21/R22 E_INVALIDARG, R18/R19 NOT_FOUND,
    R25 policy, R20 INADDR_ANY, R24 S_FALSE, R70 ALREADY_EXISTS, R23 terminating, R103
    gone, R8 an ended session."""
    lines = json_lines(EXAMPLES / "faults.toml")
    assert [outcome(line) for line in lines] == [
        "",
        "",
        "S_OK",
        "E_INVALIDARG",
        "E_INVALIDARG",
        "E_INVALIDARG",
        "E_INVALIDARG",
        "E_INVALIDARG",
        "NOT_FOUND",
        "NOT_FOUND",
        "FWX_E_PROTOCOL_RULES_DENIED",
        "FWX_E_PROTOCOL_RULES_DENIED",
        "S_OK",
        "S_FALSE",
        "S_OK",
        "ALREADY_EXISTS",
        "S_OK",
        "NOT_FOUND",
        "S_OK",
        "FWX_E_TERMINATING",
        "FWX_E_TERMINATING",
        "S_OK",
        "NOT_FOUND",
        "S_OK",
        "E_INVALIDARG",
        "",
        "FWX_E_TERMINATING",
    ]
    hresults = {line["result"]: line["hresult"] for line in lines if "result" in line}
    assert hresults == {
        "S_OK": "0x00000000",
        "S_FALSE": "0x00000001",
        "E_INVALIDARG": "0x80070057",
        "NOT_FOUND": "0x80070490",
        "ALREADY_EXISTS": "0x800700B7",
        "FWX_E_TERMINATING": "0xC0040001",
        "FWX_E_PROTOCOL_RULES_DENIED": "0xC004000D",
    }
    assert lines[10]["state"] == "pending"  # R25: a denied bind stays pending


TRACES = sorted(path for path in EXAMPLES.glob("*.toml") if path != RULES)


def test_there_are_example_traces() -> None:
    assert {path.name for path in TRACES} >= {"ftp-active.toml", "udp-media.toml", "faults.toml"}


@pytest.mark.parametrize("trace", TRACES, ids=lambda path: path.name)
def test_every_example_runs_as_a_table(trace: Path) -> None:
    result = simulate(trace, "--rules", RULES)
    assert result.exit_code == 0
    assert result.stderr == ""
