"""The register-protocol dialog: name, GUID (a fresh one proposed), connections, filter.

Checked as it is typed with ``rules.validate`` on the rule set plus the new
protocol, so it gives exactly the answers ``fwx rules check`` would; the
register button stays disabled while a problem remains. A GUID the engine
already knows is refused here too (the service would answer ALREADY_EXISTS).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from console.tui.definitions import parse_definition
from rules.model import (
    Direction,
    ProtocolDefinition,
    RuleSet,
    Transport,
)
from rules.validate import validate

__all__ = ["RegisterDialog"]


def _directions(transport: str) -> list[tuple[str, str]]:
    kind = Transport[transport.upper()]
    return [(item.value, item.value) for item in Direction if kind in item.transports]


class RegisterDialog(ModalScreen[ProtocolDefinition | None]):
    """Collects a new :class:`ProtocolDefinition`; None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Register"),
    ]

    def __init__(self, ruleset: RuleSet, known: Collection[str], guid: uuid.UUID) -> None:
        """Check against ``ruleset`` and the ``known`` GUIDs; propose ``guid``."""
        super().__init__()
        self._ruleset = ruleset
        self._known = set(known)
        self._guid = guid

    def compose(self) -> ComposeResult:
        """The fields, the problem list and the buttons."""
        with VerticalScroll(classes="dialog", id="register-dialog") as box:
            box.border_title = "Register protocol"
            yield Label("Name", classes="field")
            yield Input(placeholder="e.g. media-callback", id="reg-name", compact=True)
            yield Label("GUID (a fresh one is proposed)", classes="field")
            yield Input(str(self._guid), id="reg-guid", compact=True)
            yield Label("Primary connection: port, transport, direction", classes="field")
            with Horizontal(classes="row"):
                yield Input(placeholder="port", id="reg-port", type="integer", compact=True)
                yield Select(
                    [("tcp", "tcp"), ("udp", "udp")],
                    value="tcp",
                    allow_blank=False,
                    id="reg-transport",
                    compact=True,
                )
                yield Select(
                    _directions("tcp"),
                    value="inbound",
                    allow_blank=False,
                    id="reg-direction",
                    compact=True,
                )
            yield Label("Secondary connections (optional; ';' between them)", classes="field")
            yield Input(
                placeholder="e.g. udp 5000-5010 receive; tcp 20 inbound",
                id="reg-secondary",
                compact=True,
            )
            yield Label("Application filter (optional)", classes="field")
            yield Input(placeholder="e.g. ftp", id="reg-filter", compact=True)
            yield Label("Description (kept in the rule file)", classes="field")
            yield Input(id="reg-description", compact=True)
            yield Label("", id="reg-problems")
            with Horizontal(classes="buttons"):
                yield Button("Register [ctrl+s]", id="register", variant="success")
                yield Button("Cancel [esc]", id="cancel")

    def on_mount(self) -> None:
        """Focus the name and show what is still missing."""
        self.query_one("#reg-name", Input).focus()
        self._check()

    def _fields(self) -> dict[str, str]:
        names = ("name", "guid", "port", "secondary", "filter", "description")
        fields = {name: self.query_one(f"#reg-{name}", Input).value for name in names}
        for name in ("transport", "direction"):
            value = self.query_one(f"#reg-{name}", Select).value
            fields[name] = value if isinstance(value, str) else ""
        return fields

    def problems(self) -> tuple[ProtocolDefinition | None, list[str]]:
        """The definition the fields make, and every problem with it."""
        try:
            definition = parse_definition(self._fields())
        except ValueError as err:
            return None, [str(err)]
        if str(definition.guid) in self._known:
            return definition, [f"guid: {definition.guid} is already registered (ALREADY_EXISTS)"]
        candidate = dataclasses.replace(
            self._ruleset, protocols=(*self._ruleset.protocols, definition)
        )
        prefix = f"protocol[{len(self._ruleset.protocols)}]"
        found = [
            f"{problem.key.removeprefix(prefix + '.')}: {problem.message}"
            for problem in validate(candidate)
            if problem.key.startswith(prefix)
        ]
        return definition, found

    def _check(self) -> list[str]:
        _, found = self.problems()
        label = self.query_one("#reg-problems", Label)
        label.update("\n".join(found))
        label.set_class(bool(found), "error")
        self.query_one("#register", Button).disabled = bool(found)
        return found

    @on(Select.Changed, "#reg-transport")
    def _transport_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            directions = _directions(event.value)
            self.query_one("#reg-direction", Select).set_options(directions)
            self.query_one("#reg-direction", Select).value = directions[0][1]
        self._check()

    @on(Input.Changed)
    @on(Select.Changed, "#reg-direction")
    def _changed(self) -> None:
        self._check()

    @on(Button.Pressed, "#register")
    def action_submit(self) -> None:
        """Dismiss with the definition, unless a problem remains."""
        definition, found = self.problems()
        if definition is not None and not found:
            self.dismiss(definition)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Dismiss with None."""
        self.dismiss(None)
