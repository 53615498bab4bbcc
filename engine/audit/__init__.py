"""The audit log: every engine event and operator action, in an SQLite file ``fwx log`` reads.

:class:`AuditLog` writes (batched, off the event loop, by one writer
thread); :class:`AuditReader` reads, read-only, from any process. See
:mod:`engine.audit.log` for what a crash can lose.
"""

from __future__ import annotations

from engine.audit.log import AuditLog
from engine.audit.options import AuditOptions, AuditStats
from engine.audit.reader import AuditReader, AuditRecord
from engine.audit.store import AuditError

__all__ = ["AuditError", "AuditLog", "AuditOptions", "AuditReader", "AuditRecord", "AuditStats"]
