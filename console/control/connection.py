"""One connection to a service's admin socket: greeting, requests matched to replies, errors.

:class:`AdminConnection` opens the Unix socket, reads the service's hello
and carries requests as JSON lines (:mod:`engine.admin.protocol`), matching
each reply to its request by id so calls may overlap. Every failure is one
line: :class:`ServiceNotRunning` when nothing listens, :class:`AdminRefused`
when the service refuses this user, :class:`AdminError` for anything else
the service answers (or a connection that drops).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from engine.admin.protocol import (
    PROTOCOL_VERSION,
    REFUSED,
    LineDecoder,
    ProtocolError,
    encode_message,
)

__all__ = [
    "DISCONNECTED",
    "AdminConnection",
    "AdminError",
    "AdminRefused",
    "ServiceNotRunning",
]

DISCONNECTED = "disconnected"
"""The code of :class:`AdminError` when the connection drops or was closed."""

_REPLY_LIMIT = 512 * 1024 * 1024
"""The longest reply line read (listings of many binds are long, but not endless)."""

_READ_SIZE = 256 * 1024


class ServiceNotRunning(Exception):
    """Nothing listens on the admin socket (no file, or a file left by a stopped service)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no fwx service is listening on {path} (start one with `fwx serve`)")
        self.path = path


class AdminError(Exception):
    """The service answered with an error, or the conversation failed; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AdminRefused(AdminError):
    """The service does not let this user use its admin socket."""

    def __init__(self, message: str) -> None:
        super().__init__(REFUSED, message)


class AdminConnection:
    """One greeted connection to the admin socket: send messages, read them back."""

    def __init__(self, path: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.path = path
        self._reader = reader
        self._writer = writer
        self._decoder = LineDecoder(_REPLY_LIMIT)
        self.actor = ""

    @classmethod
    async def open(cls, path: Path, timeout: float) -> AdminConnection:
        """Connect and read the greeting; the errors of :class:`RemoteControl.connect`."""
        try:
            reader, writer = await asyncio.open_unix_connection(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ServiceNotRunning(path) from None
        except PermissionError:
            message = f"permission denied on {path}: only root and the service's user may use it"
            raise AdminRefused(message) from None
        except OSError as err:
            reason = err.strerror or str(err)
            raise AdminError("unreachable", f"cannot connect to {path}: {reason}") from None
        connection = cls(path, reader, writer)
        try:
            await connection._greeting(timeout)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _greeting(self, timeout: float) -> None:
        try:
            first = await asyncio.wait_for(self.receive(), timeout)
        except TimeoutError:
            raise AdminError("timeout", f"no greeting from {self.path} in {timeout:g} s") from None
        error = first.get("error")
        if isinstance(error, dict) and error.get("code") == REFUSED:
            raise AdminRefused(str(error.get("message", "refused")))
        hello = first.get("hello")
        if (
            not isinstance(hello, dict)
            or hello.get("service") != "fwx"
            or hello.get("protocol") != PROTOCOL_VERSION
        ):
            raise AdminError(
                "bad-hello", f"{self.path} does not speak fwx admin protocol {PROTOCOL_VERSION}"
            )
        self.actor = str(hello.get("actor", ""))

    async def receive(self) -> dict[str, Any]:
        """The next message; ``AdminError(disconnected)`` when the connection ends first."""
        while True:
            try:
                message = self._decoder.next_message()
            except ProtocolError as err:
                raise AdminError("bad-reply", f"{self.path}: {err.message}") from None
            if message is not None:
                return message
            try:
                data = await self._reader.read(_READ_SIZE)
            except ConnectionError:
                data = b""
            if not data:
                raise self.dropped()
            self._decoder.receive(data)

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message; ``AdminError(disconnected)`` when the connection is gone."""
        try:
            self._writer.write(encode_message(message))
            await self._writer.drain()
        except ConnectionError:
            raise self.dropped() from None

    def dropped(self) -> AdminError:
        """The error of a connection the service closed."""
        return AdminError(DISCONNECTED, f"the fwx service at {self.path} closed the connection")

    def close(self) -> None:
        """Close the connection (the service sees the end of the stream)."""
        self._writer.close()
