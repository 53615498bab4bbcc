"""Editing rules from the console: validated like `fwx rules check`, saved safely, applied live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Label

from console.control.local import LocalControl
from console.tui.app import ConsoleApp
from console.tui.dialogs import RuleEditor, RuleForm
from console.tui.rules_view import RulesView
from rules.loader import load
from rules.saver import backup_path
from tests.console.tui.console_pilot import main_screen, run_console, status, wait_for


async def open_editor(app: ConsoleApp, pilot: Pilot[Any]) -> RuleEditor:
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, RuleEditor))
    await pilot.pause()
    assert isinstance(app.screen, RuleEditor)
    return app.screen


def test_r85_disabling_a_rule_is_saved_and_applied_live(
    control: LocalControl, rules_path: Path
) -> None:
    """R85: the new rules are in force at once; the previous file is kept as NAME.bak."""
    before = rules_path.read_text()

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        await open_editor(app, pilot)
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Rules saved and applied" in status(app))
        assert "S_OK" in status(app)
        view = main_screen(app).query_one(RulesView)
        await wait_for(pilot, lambda: "disabled" in str(view.values(view.key_at(0))[3]))

    run_console(control, scenario)
    assert not load(rules_path).rules[0].enabled
    assert control.call(lambda engine: engine.rules.rules[0].enabled) is False
    assert backup_path(rules_path).read_text() == before


def test_a_failed_save_changes_nothing_and_says_why(
    control: LocalControl, rules_path: Path
) -> None:
    """An invalid rule is shown as a problem; saving is refused and the file and rules stay."""
    before = rules_path.read_bytes()
    rules_before = control.call(lambda engine: engine.rules)

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        editor = await open_editor(app, pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm))
        form = app.screen
        form.query_one("#rule-protocols", Input).value = "Nope"
        await pilot.pause()
        assert "no protocol named 'Nope'" in str(form.query_one("#rule-problems").render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is editor)
        await pilot.press("ctrl+s")
        label = editor.query_one("#editor-problems", Label)
        await wait_for(pilot, lambda: "not saved" in str(label.render()))
        assert "nothing changed" in str(label.render())
        assert "no protocol named 'Nope'" in str(label.render())
        assert app.screen is editor

    run_console(control, scenario)
    assert rules_path.read_bytes() == before
    assert control.call(lambda engine: engine.rules) == rules_before


def test_add_edit_and_delete_rules(control: LocalControl, rules_path: Path) -> None:
    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        editor = await open_editor(app, pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm))
        app.screen.query_one("#rule-name", Input).value = "no telnet"
        app.screen.query_one("#rule-protocols", Input).value = "Telnet"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is editor)
        assert [rule.name for rule in editor.rules][-1] == "no telnet"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm))
        app.screen.query_one("#rule-name", Input).value = "telnet for the lan"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is editor)
        assert editor.rules[-1].name == "telnet for the lan"
        editor.query_one("#editor-table").move_cursor(row=0)  # type: ignore[attr-defined]
        await pilot.press("d")
        assert [rule.name for rule in editor.rules] == ["telnet for the lan"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Rules saved and applied" in status(app))

    run_console(control, scenario)
    assert [rule.name for rule in load(rules_path).rules] == ["telnet for the lan"]


def test_closing_with_unsaved_changes_asks_first(control: LocalControl, rules_path: Path) -> None:
    before = rules_path.read_bytes()

    async def scenario(app: ConsoleApp, pilot: Pilot[Any]) -> None:
        editor = await open_editor(app, pilot)
        await pilot.press("d")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is editor)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is main_screen(app))

    run_console(control, scenario)
    assert rules_path.read_bytes() == before
