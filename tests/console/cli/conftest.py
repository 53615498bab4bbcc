"""Fixtures of the CLI tests: one real `fwx serve` per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.console.cli.live_service import LiveService, live_service


@pytest.fixture(scope="module")
def service() -> Iterator[LiveService]:
    """A running `fwx serve` on 127.0.0.71, shared by the tests of one module."""
    with live_service() as running:
        yield running
