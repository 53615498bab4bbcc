"""Choosing the IP filter of a retroactive allow: none, block all, a named set, or ranges.

Typed ranges are checked as they are typed, with the same parser the rule
file uses (an address, a CIDR block or ``a-b``, IPv4 or IPv6).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, RadioButton, RadioSet, Select

from engine.admin.snapshots import IpFilterSetSnapshot, IpFilterSpec
from rules.addresses import parse_spec

__all__ = ["MODES", "IpFilterPicker", "spec_problems", "split_specs"]

MODES = (
    ("none", "none: any remote address"),
    ("block", "block all: no remote address"),
    ("set", "named set"),
    ("ranges", "ranges typed in"),
)


def split_specs(text: str) -> tuple[str, ...]:
    """Specs separated by commas or spaces."""
    return tuple(part for part in re.split(r"[,\s]+", text.strip()) if part)


def spec_problems(spec: IpFilterSpec, set_names: Sequence[str]) -> list[str]:
    """What is wrong with ``spec`` (empty when it can be used)."""
    if spec.mode == "set" and spec.set_name not in set_names:
        return ["pick a named set (the rule file defines none)" if not set_names else "pick a set"]
    if spec.mode != "ranges":
        return []
    problems = []
    for where, specs in (("include", spec.include), ("exclude", spec.exclude)):
        for item in specs:
            try:
                parse_spec(item)
            except ValueError as err:
                problems.append(f"{where}: {err}")
    if not spec.include and not problems:
        problems.append("include: type at least one address, CIDR or range")
    return problems


class IpFilterPicker(Vertical):
    """The four choices, and the set list or range inputs they need."""

    class Changed(Message):
        """The choice or the typed ranges changed."""

    def __init__(self, sets: Sequence[IpFilterSetSnapshot]) -> None:
        """A picker offering the rule file's named ``sets``."""
        super().__init__(id="ip-filter-picker")
        self._set_names = [item.name for item in sets]

    def compose(self) -> ComposeResult:
        """Radio buttons, set list, include and exclude inputs, and the problem line."""
        with RadioSet(id="ipf-mode", compact=True):
            for index, (mode, label) in enumerate(MODES):
                yield RadioButton(label, value=index == 0, id=f"ipf-{mode}")
        options = [(name, name) for name in self._set_names]
        yield Select(options, prompt="named set", id="ipf-set-name", disabled=True, compact=True)
        yield Input(
            placeholder="include: 203.0.113.7, 10.0.0.0/8, 10.1.0.1-10.1.0.9",
            id="ipf-include",
            compact=True,
        )
        yield Input(placeholder="exclude (optional)", id="ipf-exclude", compact=True)
        yield Label("", id="ipf-problems")

    def on_mount(self) -> None:
        """Start with the inputs of the "none" choice."""
        self._sync()

    @property
    def mode(self) -> str:
        """The chosen mode: ``none``, ``block``, ``set`` or ``ranges``."""
        pressed = self.query_one(RadioSet).pressed_index
        return MODES[max(pressed, 0)][0]

    @property
    def spec(self) -> IpFilterSpec:
        """The choice as an :class:`IpFilterSpec`."""
        mode = self.mode
        chosen = self.query_one("#ipf-set-name", Select).value
        return IpFilterSpec(
            mode=mode,
            set_name=chosen if mode == "set" and isinstance(chosen, str) else "",
            include=split_specs(self.query_one("#ipf-include", Input).value)
            if mode == "ranges"
            else (),
            exclude=split_specs(self.query_one("#ipf-exclude", Input).value)
            if mode == "ranges"
            else (),
        )

    @property
    def problems(self) -> list[str]:
        """What keeps the choice from being used."""
        return spec_problems(self.spec, self._set_names)

    def _sync(self) -> None:
        mode = self.mode
        self.query_one("#ipf-set-name", Select).disabled = mode != "set"
        self.query_one("#ipf-include", Input).disabled = mode != "ranges"
        self.query_one("#ipf-exclude", Input).disabled = mode != "ranges"
        problems = self.problems
        label = self.query_one("#ipf-problems", Label)
        label.update("; ".join(problems) if problems else "")
        label.set_class(bool(problems), "error")
        self.post_message(self.Changed())

    @on(RadioSet.Changed)
    @on(Select.Changed)
    @on(Input.Changed)
    def _changed(self) -> None:
        self._sync()
