"""`fwx console`: the real console in a real terminal (a pty), and its one-line errors."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from console.cli.main import app
from rules.starter import STARTER_TEXT

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "from console.cli.main import run; run()"
"""`fwx` itself (its console-script entry point), run by this Python."""
_ESCAPES = re.compile(
    r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Z0-9]|[=>NOM78c])"
)


def in_terminal(
    args: list[str], cwd: Path, ready: Callable[[str], bool], timeout: float = 40.0
) -> tuple[int, str]:
    """Run the console in a 120x40 pty until ``ready(screen text)``, press q; (exit code, text)."""
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.chdir(cwd)
        env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
        os.execvpe(sys.executable, [sys.executable, "-c", LAUNCH, "console", *args], env)
    output = b""
    deadline = time.monotonic() + timeout
    pressed = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the console did not finish; it showed:\n{_text(output)[-2000:]}"
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.2))
            if readable:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            if not pressed and ready(_text(output)):
                os.write(fd, b"q")
                pressed = True
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    assert pressed, f"never ready; the console showed:\n{_text(output)[-2000:]}"
    return os.waitstatus_to_exitcode(status), _text(output)


def _text(output: bytes) -> str:
    return _ESCAPES.sub("", output.decode("utf-8", "replace"))


def test_console_demo_comes_up_with_pending_and_allowed_binds_and_quits(tmp_path: Path) -> None:
    """`fwx console --demo`: real traffic; both kinds of bind on screen within seconds; q quits."""

    def both_kinds(text: str) -> bool:
        """Rows of the binds table show an external address, then the state."""
        return bool(re.search(r":\d+ +PENDING", text) and re.search(r":\d+ +ALLOWED", text))

    code, text = in_terminal(["--demo", "--listen", "127.0.0.1:0"], tmp_path, both_kinds)
    assert code == 0
    assert "demo call-back" in text
    assert not (tmp_path / "fwx.toml").exists(), "the demo must not touch the operator's files"


def test_console_creates_a_starter_rule_file_and_says_where(tmp_path: Path) -> None:
    code, text = in_terminal(["--listen", "127.0.0.1:0"], tmp_path, lambda text: "sessions" in text)
    assert code == 0
    assert (tmp_path / "fwx.toml").read_text() == STARTER_TEXT
    assert "Created a starter rule file at" in text


def test_an_invalid_rule_file_is_one_line_per_problem(tmp_path: Path) -> None:
    rules = tmp_path / "bad.toml"
    rules.write_text(STARTER_TEXT.replace('name = "HTTP"', 'name = "FTP"'))
    result = CliRunner().invoke(app, ["console", "--rules", str(rules)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"{rules}:")
    assert "duplicate name 'FTP'" in lines[0]
    assert lines[-1] == f"fwx: {rules}: the rule file is invalid"
    assert "Traceback" not in result.output


def test_a_non_loopback_listener_without_passwords_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "fwx.toml"
    rules.write_text(STARTER_TEXT)
    result = CliRunner().invoke(app, ["console", "--rules", str(rules), "--listen", "0.0.0.0:0"])
    assert result.exit_code == 1
    assert result.output.startswith("fwx: refusing to listen on 0.0.0.0")
    assert len(result.output.strip().splitlines()) == 1


def test_an_unreadable_rule_file_is_an_io_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["console", "--rules", str(tmp_path)])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
