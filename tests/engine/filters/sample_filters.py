"""Third-party-style filters the registry and stream tests install through entry points.

These are what a package would ship in the ``fwx.filters`` group: ``shout``
upper-cases every line the client sends; ``broken`` raises on the first byte
it sees (the containment test); the rest are mistakes the registry refuses.
"""

from __future__ import annotations

from engine.filters import Filter, LineFilter, Output


class Shout(LineFilter):
    """Upper-cases the client's lines; answers ``PING`` itself with ``PONG``."""

    name = "shout"

    def client_line(self, line: bytes) -> Output:
        if line.strip() == b"PING":
            return Output(to_client=b"PONG\r\n")
        return Output(to_server=line.upper())


class Broken(Filter):
    """A filter with a bug: every hook raises."""

    name = "broken"

    def client_data(self, data: bytes) -> Output:
        raise RuntimeError("deliberately broken filter")

    def server_data(self, data: bytes) -> Output:
        raise RuntimeError("deliberately broken filter")


class Misnamed(Filter):
    """Declared under another entry-point name than its own."""

    name = "misnamed"


NOT_A_FILTER = "a string, not a filter class"
