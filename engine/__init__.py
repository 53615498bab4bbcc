"""fwx's firewall service: the sans-I/O engine core and, around it, the data plane.

The public names of the core are re-exported here, so a library user writes
``from engine import Engine, IpFilter, HResult``; the list itself lives once,
in ``engine.core.__all__``.
"""

from __future__ import annotations

from engine import core
from engine.core import *  # noqa: F403

__all__ = core.__all__
