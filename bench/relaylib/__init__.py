"""The relay benchmark behind ``bench/relay.py``, one concern per module.

- ``net``: loopback socket helpers and failure texts;
- ``socks``: the SOCKS5 client (codec and blocking exchange) and the targets under test;
- ``origin``: the bulk source and echo server, in a child process;
- ``sessions``: short CONNECT sessions over one epoll;
- ``bind``: one timed BIND attempt;
- ``measure``: the rounds and the figures they collect;
- ``options``: the command line;
- ``report``: the table, the notes and the targets;
- ``cli``: ``main``, tying them together.
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]
