"""Which application filters exist: one explicit built-in list, plus the ``fwx.filters`` group.

A third party ships a filter as a package that declares an entry point in
the ``fwx.filters`` group, named as rule files will name the filter::

    [project.entry-points."fwx.filters"]
    echo-guard = "fwx_echo_guard:EchoGuard"

The object it points to must be a :class:`Filter` subclass whose ``name`` is
the entry point's name. An entry point that fails to load, points to
something else or takes a built-in name is left out with a warning. A rule
file naming a filter that is not available is refused at service start and
at reload, with the file, line and key of each such protocol.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Final

from engine.filters.base import Filter
from engine.filters.ftp import FtpFilter
from rules.errors import Problem, RuleFileError, did_you_mean
from rules.locate import KeyLocator
from rules.model import RuleSet

__all__ = [
    "BUILTIN_FILTERS",
    "ENTRY_POINT_GROUP",
    "FilterRegistry",
    "default_registry",
    "require_filters",
]

logger = logging.getLogger("fwx.filters")

ENTRY_POINT_GROUP: Final = "fwx.filters"
"""The entry-point group third-party filters register in."""

BUILTIN_FILTERS: Final[tuple[type[Filter], ...]] = (FtpFilter,)
"""The filters fwx ships, by class; each is known by its ``name``."""


class FilterRegistry:
    """Filters by the name rule files use, and why any declared filter could not be had."""

    __slots__ = ("_broken", "_filters")

    def __init__(
        self, filters: Iterable[type[Filter]] = BUILTIN_FILTERS, broken: Mapping[str, str] = {}
    ) -> None:
        """A registry of ``filters``; ``broken`` says why a declared name is missing."""
        self._filters = {cls.name: cls for cls in filters}
        self._broken = dict(broken)

    @classmethod
    def discover(cls) -> FilterRegistry:
        """The built-in filters and every loadable filter of the ``fwx.filters`` entry points."""
        found = list(BUILTIN_FILTERS)
        broken: dict[str, str] = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            problem = _load(point, found)
            if isinstance(problem, str):
                broken[point.name] = problem
                logger.warning("filter %r left out: %s", point.name, problem)
            else:
                found.append(problem)
        return cls(found, broken)

    def get(self, name: str) -> type[Filter] | None:
        """The filter class named ``name``, or None."""
        return self._filters.get(name)

    def names(self) -> list[str]:
        """The names of the available filters, sorted."""
        return sorted(self._filters)

    def missing(self, name: str) -> str:
        """Why no filter named ``name`` is available (one line)."""
        if name in self._broken:
            return f"filter {name!r} is not available: {self._broken[name]}"
        hint = did_you_mean(name, self._filters)
        known = ", ".join(self.names()) or "none"
        return f"unknown filter {name!r}{hint} (available: {known})"

    def check(self, ruleset: RuleSet, path: str = "<rules>", text: str = "") -> list[Problem]:
        """One problem per protocol of ``ruleset`` naming a filter that is not available.

        ``text`` is the rule file's text, used only to give each problem its line.
        """
        locator = KeyLocator(text)
        problems = []
        for index, protocol in enumerate(ruleset.protocols):
            if protocol.filter is None or protocol.filter in self._filters:
                continue
            key = f"protocol[{index}].filter"
            line, col = locator.position(key) or (None, None)
            problems.append(Problem(path, line, col, key, self.missing(protocol.filter)))
        return problems


def _load(point: EntryPoint, found: list[type[Filter]]) -> type[Filter] | str:
    """The filter class ``point`` names, or why it cannot be used."""
    if any(cls.name == point.name for cls in found):
        return f"the name is taken by another filter ({point.value})"
    try:
        loaded = point.load()
    except Exception as exc:  # a third party's import error must not stop the service
        return f"{point.value} failed to load: {exc!r}"
    if not (isinstance(loaded, type) and issubclass(loaded, Filter)):
        return f"{point.value} is not a subclass of engine.filters.Filter"
    if loaded.name != point.name:
        return f"{point.value} is named {loaded.name!r}, not {point.name!r}"
    return loaded


@functools.cache
def default_registry() -> FilterRegistry:
    """The registry the service uses, discovered once per process."""
    return FilterRegistry.discover()


def require_filters(ruleset: RuleSet, path: Path) -> None:
    """Raise :class:`RuleFileError` when the rule file at ``path`` names an unavailable filter."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        text = ""
    problems = default_registry().check(ruleset, str(path), text)
    if problems:
        raise RuleFileError(problems)
