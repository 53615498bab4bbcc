"""`fwx console --attach [SOCKET]`: the same console on a running service, over its socket."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from console.cli.main import app
from tests.console.cli.live_service import LiveService, one_line, tcp_bind
from tests.console.test_cli_console import in_terminal


def test_the_console_attaches_and_shows_the_services_binds(
    service: LiveService, tmp_path: Path
) -> None:
    with tcp_bind(service) as (_, (_, port)):

        def pending_bind_shown(text: str) -> bool:
            return bool(re.search(rf":{port} +PENDING", text))

        code, text = in_terminal(["--attach", str(service.socket)], tmp_path, pending_bind_shown)
    assert code == 0
    assert "{}:{}".format(*service.address) in text
    assert not (tmp_path / "fwx.toml").exists(), "attaching runs no service, writes no rules"


def test_attach_with_no_service_is_exit_4_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "admin.sock"
    result = CliRunner().invoke(app, ["console", "--attach", str(missing)])
    assert result.exit_code == 4
    assert one_line(result.stderr).startswith(f"fwx: no fwx service is listening on {missing}")


def test_attach_options_that_do_not_go_together_are_a_usage_error(tmp_path: Path) -> None:
    socket = str(tmp_path / "admin.sock")
    for args in (["console", socket], ["console", "--attach", "--demo", socket]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, args
        assert one_line(result.stderr).startswith("fwx: ")
