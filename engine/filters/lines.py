"""Lines out of a byte stream, whatever its segmentation: the helper for text-protocol filters.

:class:`LineSplitter` cuts the bytes of one direction into *lines* (each
ending with ``\\n``, its ``\\r`` if any included) and *raw* runs. A line
longer than its bound is never held whole: its bytes go out raw, untouched,
until the next line starts, so a filter never holds more than the bound and
never breaks a stream it does not understand. Which lines come out depends
only on the bytes, never on how they were cut into segments; joined back,
the pieces are exactly the input.

:class:`LineFilter` is a :class:`Filter` that sees whole lines through two
hooks, ``client_line`` and ``server_line``; raw runs pass unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Final

from engine.filters.base import Filter, FilterSession, Output

__all__ = ["MAX_LINE", "LineFilter", "LineSplitter", "Piece"]

MAX_LINE: Final = 4096
"""The default bound on a line, terminator included."""

Piece = tuple[bytes, bool]
"""Bytes of the stream, and whether they are one whole line (else a raw run)."""


class LineSplitter:
    """Cuts one direction's bytes into lines of at most ``max_line`` bytes and raw runs."""

    __slots__ = ("_held", "_skipping", "max_line")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        """A splitter whose lines are at most ``max_line`` bytes long, terminator included."""
        if max_line < 1:
            raise ValueError(f"a line bound must be at least 1 byte, not {max_line}")
        self.max_line = max_line
        self._held = b""
        self._skipping = False

    @property
    def held(self) -> int:
        """Bytes of a partial line waiting for its end (never more than ``max_line``)."""
        return len(self._held)

    def feed(self, data: bytes) -> list[Piece]:
        """The pieces ``data`` completes, in order; a partial line is held for the next call."""
        buffer = self._held + data
        pieces: list[Piece] = []
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            chunk = buffer[start : end + 1]
            whole = not self._skipping and len(chunk) <= self.max_line
            pieces.append((chunk, whole))
            self._skipping = False
            start = end + 1
        rest = buffer[start:]
        if rest and (self._skipping or len(rest) >= self.max_line):
            pieces.append((rest, False))
            self._skipping = True
            rest = b""
        self._held = rest
        return pieces

    def flush(self) -> bytes:
        """The held partial line, given up at the end of the stream."""
        held, self._held = self._held, b""
        self._skipping = False
        return held


class LineFilter(Filter):
    """A filter for line-oriented text protocols: it sees whole lines, each direction apart.

    Override ``client_line`` and ``server_line``; each gets one line with its
    terminator and returns what to write. A partial line at the end of a
    stream and runs longer than ``max_line`` pass through unchanged.
    """

    max_line: ClassVar[int] = MAX_LINE
    """The longest line (terminator included) the hooks are given."""

    def __init__(self, session: FilterSession) -> None:
        """A line filter for one connection of ``session``."""
        super().__init__(session)
        self._from_client = LineSplitter(self.max_line)
        self._from_server = LineSplitter(self.max_line)

    def client_line(self, line: bytes) -> Output:
        """One whole line from the client; the default passes it on."""
        return Output(to_server=line)

    def server_line(self, line: bytes) -> Output:
        """One whole line from the server; the default passes it on."""
        return Output(to_client=line)

    def client_data(self, data: bytes) -> Output:
        """Split the client's bytes into lines for ``client_line``."""
        return _run(self._from_client, data, self.client_line, from_client=True)

    def server_data(self, data: bytes) -> Output:
        """Split the server's bytes into lines for ``server_line``."""
        return _run(self._from_server, data, self.server_line, from_client=False)


def _run(
    splitter: LineSplitter,
    data: bytes,
    hook: Callable[[bytes], Output],
    *,
    from_client: bool,
) -> Output:
    """Feed ``data`` (empty: end of stream) and gather what the hook returns for each line."""
    pieces = splitter.feed(data) if data else [(splitter.flush(), False)]
    onward = bytearray()
    back = bytearray()
    for chunk, whole in pieces:
        if not whole:
            onward += chunk
            continue
        output = hook(chunk)
        onward += output.to_server if from_client else output.to_client
        back += output.to_client if from_client else output.to_server
    if from_client:
        return Output(to_server=bytes(onward), to_client=bytes(back))
    return Output(to_server=bytes(back), to_client=bytes(onward))
