"""The console's main screen: header totals, the seven views, the actions, the live feed.

Snapshots come down from the control; the screen hands each view what it
needs (attributes down) and views report the operator's gestures as
messages (messages up). The live feed is one worker that lists everything
once and then applies :class:`EventBatch` values, which the control already
coalesces to at most ~10 a second. Dialogs are awaited in workers, so
nothing here ever blocks the screen.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Label, TabbedContent, TabPane

from console.control.interface import Control
from console.tui.actions import VIEWS, bindings
from console.tui.binds_view import BindsView
from console.tui.dialogs import AllowDialog, ConfirmDialog, RegisterDialog, RuleEditor
from console.tui.events_view import EventsView
from console.tui.format import hresult_text
from console.tui.ip_filters_view import IpFiltersView
from console.tui.openings_view import OpeningsView
from console.tui.protocols_view import ProtocolsView
from console.tui.rules_view import RulesView
from console.tui.sessions_view import SessionsView
from console.tui.store import BindStore
from console.tui.totals import TotalsBar
from engine.admin.snapshots import EventBatch, Outcome
from engine.core.results import HResult

__all__ = ["MainScreen"]

_CONFIG_KINDS = frozenset({"protocol-registered", "protocol-unregistered", "rules-replaced"})
_OPENING_KINDS = frozenset(
    {"bind-allowed", "bind-terminating", "bind-closed", "bind-expired", "rules-replaced"}
)
_BIND_ACTIONS = frozenset({"allow", "terminate", "filter", "sort"})
REFRESH_INTERVAL = 0.2
"""Seconds between two batches of changes: live enough to watch, cheap enough at 10,000 binds."""
FULL_COLLECTION_EVERY = 600
"""Seconds between two full garbage collections (see :func:`pace_collector`)."""


def settle_memory() -> None:
    """Collect once, then keep what is alive now out of the cyclic garbage collector's scans.

    With 10,000 binds on screen a full collection takes about 200 ms, which
    would freeze the screen now and then. Frozen objects are still freed by
    reference counting (snapshots hold no cycles); they are only not scanned.
    """
    gc.collect()
    gc.freeze()


def pace_collector(second: int) -> None:
    """Once a second, freeze what survived; every ten minutes, a full collection.

    Freezing often keeps each automatic collection down to the objects of the
    last second; the rare full collection frees cyclic garbage that was frozen.
    """
    if second % FULL_COLLECTION_EVERY == 0:
        gc.unfreeze()
        settle_memory()
    else:
        gc.freeze()


class MainScreen(Screen[None]):
    """Everything the operator sees between dialogs."""

    BINDINGS = bindings()
    AUTO_FOCUS = "#binds-table"

    def __init__(
        self,
        control: Control,
        clock: Callable[[], float],
        new_guid: Callable[[], uuid.UUID],
    ) -> None:
        """A screen showing the service behind ``control``.

        ``clock`` gives wall-clock seconds (ages); ``new_guid`` proposes GUIDs.
        """
        super().__init__()
        self.control = control
        self.clock = clock
        self.new_guid = new_guid
        self.store = BindStore()
        self._openings_stale = False
        self._seconds = 0
        self.totals = TotalsBar()
        self.binds_view = BindsView(self.store, clock)
        self.sessions_view = SessionsView()
        self.protocols_view = ProtocolsView()
        self.rules_view = RulesView()
        self.ip_filters_view = IpFiltersView()
        self.openings_view = OpeningsView()
        self.events_view = EventsView()
        self.status = Label("", id="status")

    def compose(self) -> ComposeResult:
        """Header, tabs, status line, footer."""
        yield self.totals
        views = {
            "binds": self.binds_view,
            "sessions": self.sessions_view,
            "protocols": self.protocols_view,
            "rules": self.rules_view,
            "ip-filters": self.ip_filters_view,
            "openings": self.openings_view,
            "events": self.events_view,
        }
        with TabbedContent(initial="binds") as self.tabs:
            for number, (view, title, _) in enumerate(VIEWS, 1):
                with TabPane(f"{number} {title}", id=view):
                    yield views[view]
        yield self.status
        yield Footer()

    def on_mount(self) -> None:
        """Start the live feed and the once-a-second work (ages, discard rate)."""
        self.follow()
        self.set_interval(1.0, self._each_second)

    # -- the live feed ---------------------------------------------------------

    @work(exclusive=True, group="follow")
    async def follow(self) -> None:
        """List everything, then apply event batches until the service stops."""
        stream = self.control.subscribe(REFRESH_INTERVAL)
        try:
            await self.reload_all()
            settle_memory()
            async for batch in stream:
                self.apply(batch)
        finally:
            stream.close()
        self.report("The service stopped; the console shows its last state.", ok=False)

    async def reload_all(self) -> None:
        """Fetch every listing afresh."""
        control = self.control
        info, binds, sessions = await asyncio.gather(
            control.info(), control.binds(), control.sessions()
        )
        totals = self.totals
        totals.show_info(info)
        self.store.replace_all(binds)
        self.binds_view.show_all()
        self.sessions_view.show(sessions)
        totals.show_totals(self.store.states, self.sessions_view.row_count)
        for note in info.notes:
            self.report(note)
        await asyncio.gather(self.reload_config(), self.reload_openings())

    async def reload_config(self) -> None:
        """Fetch protocols, rules and IP filter sets."""
        control = self.control
        protocols, rules, sets = await asyncio.gather(
            control.protocols(), control.rules(), control.ip_filters()
        )
        self.protocols_view.show(protocols)
        self.rules_view.show(rules)
        self.ip_filters_view.show(sets)

    async def reload_openings(self) -> None:
        """Fetch the packet-filter openings."""
        self._openings_stale = False
        self.openings_view.show(await self.control.openings())

    def apply(self, batch: EventBatch) -> None:
        """Apply one batch of changes to every view."""
        if batch.missed:
            self.run_worker(self.reload_all(), group="reload", exclusive=True)
        self.binds_view.apply(batch.binds, batch.removed_binds)
        sessions = self.sessions_view
        sessions.apply(batch.sessions, batch.removed_sessions)
        self.events_view.add(batch.events)
        totals = self.totals
        totals.show_totals(self.store.states, sessions.row_count)
        totals.count_discards(batch.discards)
        kinds = set(batch.kinds)
        if kinds & _CONFIG_KINDS:
            self.run_worker(self.reload_config(), group="config", exclusive=True)
        if kinds & _OPENING_KINDS:
            self._openings_stale = True
            if self._active == "openings":
                self.run_worker(self.reload_openings(), group="openings", exclusive=True)

    def _each_second(self) -> None:
        self._seconds += 1
        pace_collector(self._seconds)
        self.totals.roll()
        if self._active == "binds":
            self.binds_view.refresh_ages()

    @property
    def _active(self) -> str:
        return self.tabs.active

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        active = self._active
        self.events_view.set_live(active == "events")
        if active == "openings" and self._openings_stale:
            self.run_worker(self.reload_openings(), group="openings", exclusive=True)
        if active == "binds":
            self.binds_view.refresh_ages()
        self.refresh_bindings()

    # -- outcomes --------------------------------------------------------------

    def report(self, text: str, *, ok: bool = True) -> None:
        """Show ``text`` on the status line and as a notification."""
        self.status.update(text, layout=False)
        self.status.set_class(not ok, "error")
        self.notify(text, severity="information" if ok else "error")

    def report_result(self, subject: str, result: HResult) -> None:
        """Report an HResult: its name, value and meaning."""
        self.report(f"{subject}: {hresult_text(result)}", ok=result.succeeded)

    def report_outcome(self, subject: str, outcome: Outcome) -> None:
        """Report an :class:`Outcome`, with its problems when refused."""
        details = "; ".join(outcome.problems) or outcome.message
        text = f"{subject}: {hresult_text(outcome.result)}"
        self.report(f"{text}. {details}" if details else text, ok=outcome.ok)

    # -- actions ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Bind actions are available on the Binds view only (shown greyed elsewhere)."""
        if action in _BIND_ACTIONS and self._active != "binds":
            return None
        return True

    def action_show(self, view: str) -> None:
        """Show ``view`` (one of the seven screens)."""
        self.tabs.active = view

    def action_filter(self) -> None:
        """Put the cursor in the binds filter."""
        self.binds_view.filter.focus()

    def action_sort(self) -> None:
        """Cycle the binds' sort order."""
        self.report(f"Binds sorted by {self.binds_view.cycle_sort()}")

    @work(exclusive=True, group="dialog")
    async def action_allow(self) -> None:
        """Retroactive allow on the selected bind, through the dialog."""
        bind = self.binds_view.selected()
        if bind is None:
            self.report("Select a bind to allow first.", ok=False)
            return
        protocols, sets = await asyncio.gather(self.control.protocols(), self.control.ip_filters())
        request = await self.app.push_screen_wait(AllowDialog(bind, protocols, sets))
        if request is None:
            return
        result = await self.control.allow(
            bind.id, request.protocol, request.flags, request.ip_filter
        )
        self.report_result(f"Allow bind {bind.id}", result)

    @work(exclusive=True, group="dialog")
    async def action_terminate(self) -> None:
        """Terminate the selected bind after a confirmation."""
        bind = self.binds_view.selected()
        if bind is None:
            self.report("Select a bind to terminate first.", ok=False)
            return
        question = (
            f"Terminate bind {bind.id} ({bind.transport} {bind.address}, {bind.who})?\n"
            "Its socket is closed and its opening removed."
        )
        if not await self.app.push_screen_wait(ConfirmDialog("Terminate bind", question)):
            return
        self.report_result(f"Terminate bind {bind.id}", await self.control.terminate(bind.id))

    @work(exclusive=True, group="dialog")
    async def action_register_protocol(self) -> None:
        """Register a protocol, through the dialog."""
        ruleset, protocols = await asyncio.gather(
            self.control.get_rules(), self.control.protocols()
        )
        known = {item.guid for item in protocols}
        dialog = RegisterDialog(ruleset, known, self.new_guid())
        definition = await self.app.push_screen_wait(dialog)
        if definition is None:
            return
        outcome = await self.control.register_protocol(definition)
        self.report_outcome(f"Register {definition.name} {{{definition.guid}}}", outcome)

    @work(exclusive=True, group="dialog")
    async def action_edit_rules(self) -> None:
        """Open the rule editor; a save there is applied live."""
        ruleset = await self.control.get_rules()
        outcome = await self.app.push_screen_wait(RuleEditor(self.control, ruleset))
        if outcome is not None:
            self.report_outcome("Rules saved and applied", outcome)
            await self.reload_config()
