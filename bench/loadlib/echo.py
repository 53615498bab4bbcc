"""The remote the relays talk to: a TCP echo server in a process of its own.

It runs outside the service (whose descriptors are counted) and outside the
load generator (whose event loop is busy enough), on 127.0.0.2 by default.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
from multiprocessing.connection import Connection

from .service import raise_fd_limit

__all__ = ["EchoProcess"]

_WAIT = 15.0


class EchoProcess:
    """An echo server on ``host`` (any port) in a child process; a context manager."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.host = host
        self.port = 0
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._child_end = child_end
        self._process = context.Process(
            target=_child, args=(host, child_end), name="fwx-load-echo", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens."""
        return self.host, self.port

    def start(self) -> EchoProcess:
        """Start it; returns once it listens."""
        self._process.start()
        self._child_end.close()
        if not self._pipe.poll(_WAIT):
            self.stop()
            raise RuntimeError("the echo server did not start")
        self.port = self._pipe.recv()
        return self

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL)."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(_WAIT)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(_WAIT)
        self._pipe.close()

    def __enter__(self) -> EchoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._transport.write(data)

    def eof_received(self) -> bool:
        return False


def _child(host: str, pipe: Connection) -> None:
    raise_fd_limit()
    asyncio.run(_serve(host, pipe))


async def _serve(host: str, pipe: Connection) -> None:
    listener = socket.create_server((host, 0), backlog=4096)
    server = await asyncio.get_running_loop().create_server(_Echo, sock=listener)
    pipe.send(listener.getsockname()[1])
    async with server:
        await server.serve_forever()
