"""The audit log's settings and the counters it reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["AuditOptions", "AuditStats"]


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """Where the audit log lives, how often it is written, and how much of it is kept."""

    path: Path
    flush_interval: float = 1.0
    """Seconds between batches: the most a SIGKILL can lose (operator records are never lost)."""
    retention: float = 30 * 86400.0
    """Seconds a row is kept; older rows are deleted."""
    max_bytes: int = 256 * 1024 * 1024
    """The file (database and WAL) is kept under this by deleting the oldest rows."""
    max_pending: int = 1_000_000
    """Rows held in memory while the file cannot be written; beyond it the oldest are lost."""
    queue_capacity: int = 100_000
    """Engine events buffered between batches; beyond it the oldest are missed (and counted)."""
    trim_interval: float = 60.0
    """Seconds between retention passes (one also runs at start)."""

    def __post_init__(self) -> None:
        """Refuse settings that cannot work (ValueError, one line)."""
        for name in ("flush_interval", "retention", "trim_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"audit {name} must be more than 0 seconds")
        for name in ("max_bytes", "max_pending", "queue_capacity"):
            if getattr(self, name) < 1:
                raise ValueError(f"audit {name} must be at least 1")


@dataclass(frozen=True, slots=True)
class AuditStats:
    """What the audit log has done so far (a snapshot)."""

    path: Path
    rows_written: int
    """Rows committed to the file by this run."""
    batches: int
    """Transactions committed by this run."""
    missed: int
    """Engine events lost before they were turned into rows (the subscription overflowed)."""
    lost: int
    """Rows dropped from memory while the file could not be written."""
    pending: int
    """Rows waiting to be written (more than a batch's worth only while writing fails)."""
    last_error: str | None
    """Why the latest write failed; None once a write succeeds again."""
