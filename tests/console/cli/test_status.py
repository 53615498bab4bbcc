"""`fwx status` against a real `fwx serve`; no service (exit 4); a refused user (exit 5)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.cli.live_service import LiveService, fwx_env, one_line, run_fwx

NOBODY = (
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    # Python lives under /root (mode 0700): reading it needs this capability. It grants
    # no write access, so reaching the socket (connect needs write) depends on its modes.
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",
)


def test_status_json_is_the_services_snapshot(service: LiveService) -> None:
    status = service.json("status")
    assert status["pid"] == service.process.pid
    assert status["listen"] == "{}:{}".format(*service.address)
    assert status["external"] == "127.0.0.71"
    assert status["rules_path"] == str(service.rules)
    assert status["admin_socket"] == str(service.socket)
    assert status["audit_path"] == str(service.audit)
    assert status["audit_error"] is None
    assert status["started"] <= time.time()
    assert status["protocols"] == 3


def test_status_table_says_where_and_what(service: LiveService) -> None:
    result = service.cli("status")
    assert result.exit_code == 0, result.output
    for text in ("running", str(service.process.pid), str(service.socket), "pending"):
        assert text in result.stdout


def test_status_through_the_real_fwx_script(service: LiveService) -> None:
    done = service.run("status")
    assert done.returncode == 0, done.stderr
    assert f"{service.address[0]}:{service.address[1]}" in done.stdout
    assert done.stderr == ""


def test_no_service_is_exit_4_with_one_line_that_says_how_to_start_one(tmp_path: Path) -> None:
    missing = tmp_path / "admin.sock"
    done = run_fwx("status", "--socket", str(missing))
    assert done.returncode == 4
    line = one_line(done.stderr)
    assert line.startswith(f"fwx: no fwx service is listening on {missing}")
    assert "fwx serve --rules" in line
    assert done.stdout == ""


def test_a_socket_file_left_by_a_stopped_service_is_no_service(tmp_path: Path) -> None:
    stale = tmp_path / "admin.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))
    done = run_fwx("status", env=fwx_env(FWX_ADMIN_SOCKET=str(stale)))
    assert done.returncode == 4
    assert "no fwx service is listening" in one_line(done.stderr)


@contextlib.contextmanager
def loosened(service: LiveService) -> Iterator[None]:
    """Let any user reach the socket (folders 0755, socket 0666) for a while."""
    paths = (service.folder, service.socket.parent, service.socket)
    modes = [path.stat().st_mode & 0o777 for path in paths]
    for path, mode in zip(paths, (0o755, 0o755, 0o666), strict=True):
        path.chmod(mode)
    try:
        yield
    finally:
        for path, mode in zip(paths, modes, strict=True):
            path.chmod(mode)


def _as_nobody(service: LiveService) -> tuple[int, str, str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a client as nobody")
    done = run_fwx("status", env=fwx_env(**service.env), prefix=NOBODY)
    return done.returncode, done.stdout, done.stderr


def test_a_user_the_service_does_not_permit_is_refused_exit_5(service: LiveService) -> None:
    """The socket's modes let nobody connect; the service's credential check refuses."""
    with loosened(service):
        code, out, err = _as_nobody(service)
    assert code == 5, err
    assert one_line(err) == "fwx: uid 65534 (nobody) may not use this socket"
    assert out == ""
    assert "may not use this socket" in service.log_text()


def test_the_sockets_own_modes_refuse_other_users_exit_5(service: LiveService) -> None:
    code, _, err = _as_nobody(service)
    assert code == 5
    assert one_line(err).startswith(f"fwx: permission denied on {service.socket}")
