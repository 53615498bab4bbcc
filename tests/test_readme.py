"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_commands() -> list[str]:
    """The commands of the README's first two fenced blocks."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    commands: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("```"):
            inside = not inside
        elif inside:
            commands.append(line)
        if len(commands) == 2:
            break
    return commands


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert setup_commands()[1] in ci_lines


def test_the_first_command_installs_and_starts_fwx() -> None:
    first = setup_commands()[0]
    assert first.startswith("pip install -e . && fwx ")
