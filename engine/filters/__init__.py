"""Application filters: small classes that watch a protocol's primary connections.

A filter sees the bytes of each connection of the protocols whose definition
names it, may pass, hold, rewrite or answer them, and acts on the firewall
only through its :class:`FilterSession` (``retroactive_allow_bind``,
``bind_for_client``, ``allow_future_connect``). fwx ships ``ftp``
(:mod:`engine.filters.ftp`); others come from the ``fwx.filters`` entry-point
group (:mod:`engine.filters.registry`).
"""

from __future__ import annotations

from engine.filters.base import ClientBinder, Filter, FilterSession, Output
from engine.filters.ftp import FtpFilter
from engine.filters.lines import MAX_LINE, LineFilter, LineSplitter
from engine.filters.registry import (
    BUILTIN_FILTERS,
    ENTRY_POINT_GROUP,
    FilterRegistry,
    default_registry,
)

__all__ = [
    "BUILTIN_FILTERS",
    "ENTRY_POINT_GROUP",
    "MAX_LINE",
    "ClientBinder",
    "Filter",
    "FilterRegistry",
    "FilterSession",
    "FtpFilter",
    "LineFilter",
    "LineSplitter",
    "Output",
    "default_registry",
]
