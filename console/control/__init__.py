"""The control interface between the console and a service, and its in-process implementation."""

from __future__ import annotations

from console.control.interface import Control, EventStream
from console.control.local import LocalControl
from engine.admin.snapshots import (
    BindSnapshot,
    EventBatch,
    EventSnapshot,
    IpFilterSetSnapshot,
    IpFilterSpec,
    OpeningSnapshot,
    Outcome,
    ProtocolSnapshot,
    RuleSnapshot,
    ServiceInfo,
    SessionSnapshot,
)

__all__ = [
    "BindSnapshot",
    "Control",
    "EventBatch",
    "EventSnapshot",
    "EventStream",
    "IpFilterSetSnapshot",
    "IpFilterSpec",
    "LocalControl",
    "OpeningSnapshot",
    "Outcome",
    "ProtocolSnapshot",
    "RuleSnapshot",
    "ServiceInfo",
    "SessionSnapshot",
]
