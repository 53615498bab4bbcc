"""Fixtures for every test: no test touches the machine's own admin socket or audit log.

`fwx console` and `fwx serve` open an admin socket and an audit log at
default places (``/run/fwx``, ``/var/lib/fwx`` for root). Tests, and the
commands they start as subprocesses, are pointed at a private folder instead
through the same environment variables an operator would set. ``short_dir``
gives tests a folder short enough for a Unix socket path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_service_paths() -> Iterator[None]:
    """``FWX_ADMIN_SOCKET`` and ``FWX_AUDIT_DB`` in a short private folder for the whole run."""
    saved = {name: os.environ.get(name) for name in ("FWX_ADMIN_SOCKET", "FWX_AUDIT_DB")}
    with tempfile.TemporaryDirectory(prefix="fwx-t-", dir="/tmp") as folder:
        os.environ["FWX_ADMIN_SOCKET"] = os.path.join(folder, "run", "admin.sock")
        os.environ["FWX_AUDIT_DB"] = os.path.join(folder, "audit.sqlite")
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh folder under /tmp: Unix socket paths must stay under 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="fwx-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
