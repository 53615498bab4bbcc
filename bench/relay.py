#!/usr/bin/env python3
"""Relay benchmark: SOCKS5 servers side by side with a direct loopback transfer.

    python bench/relay.py [--size 1G] [--rounds 5] [--concurrency 50] [--sessions 30000]
                          [--fwx-allow-all] NAME=HOST:PORT ...

Every server named on the command line is measured in the same run, round-robin within each
round, and each figure is the median of the rounds, so the servers share the machine's
conditions. "direct" is the same work with no proxy: the limit. Measured:

- CONNECT throughput: ``--size`` bytes from a source server on 127.0.0.2 to this process;
- CONNECT session rate at ``--concurrency``: connect, SOCKS handshake, one 32-byte request and
  reply, close (the client closes first, so the proxy's outgoing side holds the TIME-WAITs);
  p50/p99 set-up latency is TCP connect to SOCKS success reply;
- BIND to first byte: BIND, first reply, a peer on 127.0.0.3 connects to the bound address,
  second reply, one byte each way; every attempt has a time-out, so a server that holds BINDs
  pending (fwx without an approving rule file) is reported as such instead of hanging;
- ``--sessions`` short CONNECT sessions in a row, all of which must succeed.

Peers named ``dante``, ``microsocks`` and ``pproxy`` are the references for the targets of
every other server: throughput >= 0.5x direct, session rate >= the best peer, BIND p50 <=
Dante's. Standard library only; loopback only. Exit status 1 when a server that is not a
reference peer failed sessions or BINDs it had to pass.

This file is the entry point; the benchmark itself is the ``relaylib`` package next to it.
"""

from __future__ import annotations

import sys

from relaylib import main

if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
