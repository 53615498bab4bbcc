"""The load benchmark behind ``bench/load.py`` (and the short version in tests/hardening).

- ``service``: the fwx service in a child process, its descriptors and memory from /proc;
- ``echo``: the echo server the relays talk to, in a child process;
- ``clients``: SOCKS5 clients: relaying CONNECT sessions, held BIND and UDP ASSOCIATE binds;
- ``knock``: remotes knocking on pending binds at a steady rate;
- ``probe``: the console's responsiveness (admin calls, the headless Textual console);
- ``run``: one run: warm-up, baseline, rounds, measurements;
- ``report``: the table and the verdicts;
- ``cli``: ``main``, the command line.
"""

from __future__ import annotations

from .cli import main

__all__ = ["main"]
