"""AuditOptions: the defaults the brief fixes, and settings that cannot work refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.audit import AuditOptions


def test_defaults() -> None:
    options = AuditOptions(Path("audit.db"))
    assert options.flush_interval == 1.0
    assert options.retention == 30 * 86400
    assert options.max_bytes == 256 * 1024 * 1024
    assert options.max_pending == 1_000_000
    assert options.queue_capacity == 100_000


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("flush_interval", 0.0, "audit flush_interval must be more than 0 seconds"),
        ("retention", -1.0, "audit retention must be more than 0 seconds"),
        ("trim_interval", 0.0, "audit trim_interval must be more than 0 seconds"),
        ("max_bytes", 0, "audit max_bytes must be at least 1"),
        ("max_pending", 0, "audit max_pending must be at least 1"),
        ("queue_capacity", 0, "audit queue_capacity must be at least 1"),
    ],
)
def test_settings_that_cannot_work_are_refused(setting: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuditOptions(Path("audit.db"), **{setting: value})
