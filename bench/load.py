#!/usr/bin/env python3
"""Load benchmark: relaying connections, thousands of held binds, remotes knocking, on loopback.

    python bench/load.py [--connections 2000] [--binds 7000] [--udp-share 0.25]
                         [--seconds 60] [--knock-rate 500] [--rounds 1] [--no-tui]

One fwx service (in a child process, with its admin socket and audit log)
holds ``--connections`` SOCKS CONNECT sessions relaying to an echo server on
127.0.0.2 and ``--binds`` pending binds (BIND and UDP ASSOCIATE control
connections held open) for ``--seconds``, while remotes on 127.0.0.3 ..
127.0.0.250 knock on the pending binds (TCP connection attempts and UDP
datagrams) at ``--knock-rate`` a second and the console is timed over the
admin socket (calls, and the headless Textual console's key presses).

It prints the service's file descriptors and RSS before, at the peak, and
after everything closed (then a few seconds later, then after gc and
``malloc_trim``); the knocks delivered against the engine's discard
counters; relay bytes and failures; the console's p50/p99. Exit status 0
when fds came back to the baseline, RSS within the stated margin, every
knock was counted as a discard of its bind, and nothing failed; 1
otherwise; 2 for a bad command line or a load whose descriptors cannot fit
under the hard RLIMIT_NOFILE. Loopback only; it stops by itself.

This file is the entry point; the benchmark is the ``loadlib`` package next to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where `console` would mean
# bench/console.py; the repository root must come first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadlib import main

if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
