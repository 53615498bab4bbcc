"""The retroactive-allow dialog: protocol, flags and IP filter for one bind.

It only collects the arguments; the caller passes them to
``Control.allow`` and shows the engine's answer, so every result code the
contract has (S_OK, S_FALSE, E_INVALIDARG, NOT_FOUND, FWX_E_TERMINATING,
FWX_E_PROTOCOL_RULES_DENIED) reaches the operator unchanged. Both flags are
UDP-only (R22): BIDIRECTIONAL is disabled on a TCP bind with the reason
shown; INCREASE_RECEIVE_BUFFER stays available so the operator can see the
engine refuse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Select

from console.tui.dialogs.ip_filter_picker import IpFilterPicker
from engine.admin.snapshots import (
    BindSnapshot,
    IpFilterSetSnapshot,
    IpFilterSpec,
    ProtocolSnapshot,
)
from engine.core.results import Flags

__all__ = ["AllowDialog", "AllowRequest", "suggest_protocol"]

BIDIRECTIONAL_ON_TCP = "disabled: BIDIRECTIONAL is for UDP binds only (R22)"
RCVBUF_ON_TCP = "UDP only: on a TCP bind the engine answers E_INVALIDARG (R22)"


def suggest_protocol(bind: BindSnapshot, protocols: Sequence[ProtocolSnapshot]) -> str | None:
    """The GUID to propose: the bind's own; else the protocol meant most narrowly for its
    port (a range of 4 ports before one of 64,511); else the first."""
    guids = [item.guid for item in protocols]
    if bind.protocol in guids:
        return bind.protocol
    spans = {item.guid: item.covers(bind.transport, bind.port) for item in protocols}
    fitting = sorted((span, index) for index, span in enumerate(spans.values()) if span)
    if fitting:
        return guids[fitting[0][1]]
    return guids[0] if guids else None


@dataclass(frozen=True, slots=True)
class AllowRequest:
    """The arguments the operator chose: protocol GUID (or None), flags, IP filter."""

    protocol: str | None
    flags: int
    ip_filter: IpFilterSpec


class AllowDialog(ModalScreen[AllowRequest | None]):
    """Collects an :class:`AllowRequest` for ``bind``; None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Allow"),
    ]

    def __init__(
        self,
        bind: BindSnapshot,
        protocols: Sequence[ProtocolSnapshot],
        sets: Sequence[IpFilterSetSnapshot],
    ) -> None:
        """A dialog for ``bind`` offering ``protocols`` and the named IP filter ``sets``."""
        super().__init__()
        self._bind = bind
        self._protocols = protocols
        self._sets = sets

    def compose(self) -> ComposeResult:
        """Protocol picker, flags, IP filter, buttons."""
        bind = self._bind
        tcp = bind.transport == "tcp"
        with VerticalScroll(classes="dialog", id="allow-dialog") as box:
            box.border_title = f"Retroactive allow: bind {bind.id}"
            yield Label(
                f"{bind.transport} {bind.address}  {bind.who}  {bind.state.upper()}",
                classes="subtitle",
            )
            yield Label("Protocol (registered name and GUID)", classes="field")
            options = [(f"{item.name}  {{{item.guid}}}", item.guid) for item in self._protocols]
            yield Select(
                options,
                prompt="no protocol (policy denies)",
                value=suggest_protocol(bind, self._protocols) or Select.NULL,
                id="allow-protocol",
                compact=True,
            )
            yield Label("Flags", classes="field")
            yield Checkbox(
                "BIDIRECTIONAL: may send back to remotes that sent to it",
                id="flag-bidirectional",
                disabled=tcp,
                compact=True,
            )
            if tcp:
                yield Label(BIDIRECTIONAL_ON_TCP, classes="hint")
            yield Checkbox(
                "INCREASE_RECEIVE_BUFFER: 64 KiB receive buffer", id="flag-rcvbuf", compact=True
            )
            if tcp:
                yield Label(RCVBUF_ON_TCP, classes="hint")
            yield Label("IP filter (which remote addresses may reach the bind)", classes="field")
            yield IpFilterPicker(self._sets)
            with Horizontal(classes="buttons"):
                yield Button("Allow [ctrl+s]", id="allow", variant="success")
                yield Button("Cancel [esc]", id="cancel")

    def on_mount(self) -> None:
        """Focus the protocol picker."""
        self.query_one("#allow-protocol", Select).focus()

    @property
    def request(self) -> AllowRequest:
        """What the dialog holds now."""
        chosen = self.query_one("#allow-protocol", Select).value
        flags = Flags.NONE
        if self.query_one("#flag-bidirectional", Checkbox).value:
            flags |= Flags.BIDIRECTIONAL
        if self.query_one("#flag-rcvbuf", Checkbox).value:
            flags |= Flags.INCREASE_RECEIVE_BUFFER
        return AllowRequest(
            protocol=chosen if isinstance(chosen, str) else None,
            flags=int(flags),
            ip_filter=self.query_one(IpFilterPicker).spec,
        )

    @on(IpFilterPicker.Changed)
    def _filter_changed(self) -> None:
        self.query_one("#allow", Button).disabled = bool(self.query_one(IpFilterPicker).problems)

    @on(Button.Pressed, "#allow")
    def action_submit(self) -> None:
        """Dismiss with the request, unless the IP filter has a problem."""
        if not self.query_one(IpFilterPicker).problems:
            self.dismiss(self.request)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Dismiss with None."""
        self.dismiss(None)
