"""`fwx rules init|check|show|passwd`: exit codes, one-line errors, no hashes on screen."""

from __future__ import annotations

import getpass
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from console.cli import rules as rules_cli
from console.cli.rules import app
from rules import backup_path, load, loads, verify_password
from rules.starter import STARTER_TEXT

DATA = Path(__file__).resolve().parents[1] / "rules" / "data"
runner = CliRunner()


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(STARTER_TEXT)
    return path


@pytest.fixture
def issue(tmp_path: Path) -> Path:
    path = tmp_path / "issue.toml"
    shutil.copy(DATA / "good" / "issue_example.toml", path)
    return path


def test_init_writes_the_starter_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0
    assert result.stdout == f"wrote {path}; check it with: fwx rules check {path}\n"
    assert path.read_text() == STARTER_TEXT
    assert path.stat().st_mode & 0o777 == 0o600


def test_init_refuses_to_overwrite_without_force(starter: Path) -> None:
    starter.write_text("version = 1\n")
    result = runner.invoke(app, ["init", str(starter)])
    assert result.exit_code == 1
    assert result.stderr == f"fwx: {starter} already exists; use --force to replace it\n"
    assert starter.read_text() == "version = 1\n"


def test_init_force_replaces_and_keeps_a_backup(starter: Path) -> None:
    starter.write_text("version = 1\n")
    result = runner.invoke(app, ["init", "--force", str(starter)])
    assert result.exit_code == 0
    assert starter.read_text() == STARTER_TEXT
    assert backup_path(starter).read_text() == "version = 1\n"


def test_init_into_a_missing_folder_is_an_io_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "nope" / "rules.toml")])
    assert result.exit_code == 3
    assert result.stderr.startswith("fwx: cannot write ")
    assert result.stderr.count("\n") == 1


def test_check_prints_a_one_line_summary(starter: Path) -> None:
    result = runner.invoke(app, ["check", str(starter)])
    assert result.exit_code == 0
    assert result.stdout == (
        f"{starter}: OK: 4 protocols, 1 rule (1 enabled), 1 IP filter set, 1 client set, "
        "1 user, authentication none\n"
    )


def test_check_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    shutil.copy(DATA / "bad" / "many_problems.toml", path)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 8
    assert lines[0] == (
        f"{path}:4:1: service.listen: '127.0.0.1' is not IP:PORT (write IPv6 as [::1]:1080)"
    )
    assert lines[-1] == f"fwx: {path}: 7 problems"
    assert "Traceback" not in result.output


def test_check_of_a_missing_file_is_an_io_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "none.toml")])
    assert result.exit_code == 3
    assert result.stderr == (
        f"fwx: {tmp_path / 'none.toml'}: cannot read the file: No such file or directory\n"
    )


def test_a_missing_argument_is_a_usage_error() -> None:
    assert runner.invoke(app, ["check"]).exit_code == 2


def test_show_prints_tables_without_password_hashes(issue: Path) -> None:
    result = runner.invoke(app, ["show", str(issue)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for title in (
        "Service",
        "Protocols",
        "Protocol rules",
        "IP filter sets",
        "Client sets",
        "Users",
    ):
        assert title in result.stdout
    assert "a5b2c3d4-0000-4000-8000-000000007777" in result.stdout
    assert "staff may use FTP and DNS" in result.stdout
    assert "scrypt" not in result.stdout
    assert " set " in result.stdout


def test_show_json_is_complete_and_hides_hashes(issue: Path) -> None:
    result = runner.invoke(app, ["show", "--json", str(issue)])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [p["name"] for p in data["protocols"]] == ["FTP", "DNS", "Game host"]
    assert data["protocols"][2]["guid"] == "a5b2c3d4-0000-4000-8000-000000007777"
    assert data["protocols"][0]["secondary"] == [
        {"ports": "1024-65535", "transport": "tcp", "direction": "inbound"}
    ]
    assert data["users"] == [
        {"name": "alice", "groups": ["staff"], "password": "set", "description": ""}
    ]
    assert data["rules"][1]["enabled"] is False
    assert data["ip_filters"][0]["exclude"] == ["203.0.113.99"]
    assert "scrypt" not in result.stdout


def test_passwd_reads_two_lines_when_not_on_a_terminal(starter: Path) -> None:
    result = runner.invoke(app, ["passwd", str(starter), "alice"], input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"password of 'alice' set in {starter}")
    user = load(starter).user("alice")
    assert user is not None
    assert user.password is not None
    assert verify_password("s3cret", user.password)
    assert backup_path(starter).read_text() == STARTER_TEXT


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("one\ntwo\n", "fwx: the two passwords differ; nothing was changed\n"),
        ("\n\n", "fwx: the password must not be empty; nothing was changed\n"),
        ("only-once\n", "fwx: expected the password twice on standard input, one per line\n"),
    ],
)
def test_passwd_refuses_unusable_input(starter: Path, typed: str, message: str) -> None:
    result = runner.invoke(app, ["passwd", str(starter), "alice"], input=typed)
    assert result.exit_code == 1
    assert result.stderr == message
    assert starter.read_text() == STARTER_TEXT


def test_passwd_for_an_unknown_user_suggests_a_name(starter: Path) -> None:
    result = runner.invoke(app, ["passwd", str(starter), "alcie"], input="x\nx\n")
    assert result.exit_code == 1
    assert result.stderr == f"fwx: {starter}: no user named 'alcie'; did you mean 'alice'?\n"


def test_passwd_works_after_switching_authentication_on(starter: Path) -> None:
    """With authentication = "password" the file is invalid until every user has one."""
    text = STARTER_TEXT.replace('authentication = "none"', 'authentication = "password"')
    text += '\n[[user]]\nname = "bob"\n'
    starter.write_text(text)
    assert runner.invoke(app, ["check", str(starter)]).exit_code == 1
    result = runner.invoke(app, ["passwd", str(starter), "alice"], input="a\na\n")
    assert result.exit_code == 0
    assert "still without a password: bob" in result.stderr
    assert runner.invoke(app, ["passwd", str(starter), "bob"], input="b\nb\n").exit_code == 0
    assert runner.invoke(app, ["check", str(starter)]).exit_code == 0
    assert loads(starter.read_text()).service.authentication.value == "password"


def test_passwd_on_an_invalid_file_reports_its_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    shutil.copy(DATA / "bad" / "version_unsupported.toml", path)
    result = runner.invoke(app, ["passwd", str(path), "alice"], input="x\nx\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:1:1: version: unsupported version 2; this fwx reads version 1",
        f"fwx: {path}: 1 problem",
    ]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_passwd_asks_twice_without_echo_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []
    answers = iter(["typed", "typed"])

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    assert rules_cli._read_password("alice") == "typed"
    assert prompts == ["New password for alice: ", "Repeat it: "]


def test_check_reports_a_filter_that_is_not_installed(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        'version = 1\n\n[[protocol]]\nname = "X"\n'
        'guid = "a5b2c3d4-0000-4000-8000-000000000099"\n'
        'primary = { port = 99, transport = "tcp", direction = "outbound" }\n'
        'filter = "nosuch"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:7:1: protocol[0].filter: unknown filter 'nosuch'" in result.stderr
