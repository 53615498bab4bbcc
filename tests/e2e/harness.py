"""Helpers of the end-to-end tests: rule files, local HTTP servers, an in-process service.

The service runs on its own event loop in a thread, like the console runs
it; tests reach its engine only through :meth:`RunningService.call`, which
runs a function on that loop (the engine is not thread-safe).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import http.server
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from engine import Bind, Engine
from engine.service import Service
from engine.socks.server import ServerOptions
from rules.passwords import hash_password

T = TypeVar("T")

FTP_GUID = uuid.UUID("a5b2c3d4-0000-4000-8000-000000000021")
MEDIA_GUID = uuid.UUID("a5b2c3d4-0000-4000-8000-000000005004")
PASSWORD = "correct horse"
WAIT = 5.0


@dataclass(frozen=True)
class HttpServer:
    """A file served over HTTP on loopback, and its SHA-256."""

    host: str
    port: int
    path: str
    digest: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the test output."""


def serve_http(host: str, folder: Path, digest: str) -> Iterator[HttpServer]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield HttpServer(host, server.server_address[1], "/blob.bin", digest)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def rules_text(
    *,
    web_ports: tuple[int, ...],
    authentication: str = "none",
    bind_ports: str | None = None,
    udp_send_port: int | None = None,
    pending_bind_timeout: float = 120.0,
) -> str:
    """A rule file: Web on ``web_ports`` (outbound), FTP and Media for allows, allow-all."""
    lines = [
        "version = 1",
        "[service]",
        'listen = "127.0.0.1:0"',
        'external = "127.0.0.1"',
        f'authentication = "{authentication}"',
        f"pending_bind_timeout = {pending_bind_timeout}",
    ]
    if bind_ports is not None:
        lines.append(f'bind_ports = "{bind_ports}"')
    for index, port in enumerate(web_ports):
        lines += [
            "[[protocol]]",
            f'name = "Web {index}"',
            f'guid = "{uuid.UUID(int=0xA5B2C3D4_0000_4000_8000_000000000080 + index)}"',
            f'primary = {{ port = {port}, transport = "tcp", direction = "outbound" }}',
        ]
    lines += [
        "[[protocol]]",
        'name = "FTP"',
        f'guid = "{FTP_GUID}"',
        'primary = { port = 21, transport = "tcp", direction = "outbound" }',
        'secondary = [{ ports = "1024-65535", transport = "tcp", direction = "inbound" }]',
        "[[protocol]]",
        'name = "Media"',
        f'guid = "{MEDIA_GUID}"',
        'primary = { port = 5004, transport = "udp", direction = "send" }',
        'secondary = [{ ports = "1024-65535", transport = "udp", direction = "receive" }]',
    ]
    if udp_send_port is not None:
        lines += [
            "[[protocol]]",
            'name = "Echo"',
            'guid = "a5b2c3d4-0000-4000-8000-000000000007"',
            f"primary = {{ port = {udp_send_port}, "
            'transport = "udp", direction = "send-receive" }',
        ]
    if authentication == "password":
        lines += ["[[user]]", 'name = "alice"', f'password = "{_password_hash()}"']
    lines += [
        "[[rule]]",
        'name = "everyone may use everything"',
        'action = "allow"',
        'protocols = ["any"]',
        'users = ["any"]',
        'clients = ["any"]',
    ]
    return "\n".join(lines) + "\n"


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


class RunningService:
    """A :class:`Service` running on its own event loop in a thread."""

    def __init__(self, rules_path: Path, options: ServerOptions, tick_interval: float) -> None:
        self.service = Service(
            rules_path, listen="127.0.0.1:0", options=options, tick_interval=tick_interval
        )
        self._stopped = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fwx-test-service")
        self._thread.start()
        self.run(self.service.start())

    @property
    def address(self) -> tuple[str, int]:
        return self.call(lambda: self.service.address)

    @property
    def proxy_url(self) -> str:
        host, port = self.address
        return f"socks5://{host}:{port}"

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the service's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT)

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the service's loop (where the engine lives) and return its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            try:
                future.set_result(function())
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(work)
        return future.result(WAIT)

    def engine_call(self, function: Callable[[Engine], T]) -> T:
        """``call`` with the engine as argument."""
        return self.call(lambda: function(self.service.engine))

    def wait_for(self, predicate: Callable[[Engine], object], what: str) -> None:
        """Poll ``predicate(engine)`` on the loop until it is true; fail after a few seconds."""
        deadline = time.monotonic() + WAIT
        while not self.engine_call(predicate):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting until {what}")
            time.sleep(0.01)

    def bind_at(self, address: tuple[str, int]) -> Bind:
        """The live bind on ``address`` (fails if there is none)."""
        found = self.engine_call(lambda engine: [b for b in engine.binds() if b.address == address])
        assert len(found) == 1, f"no single live bind on {address}: {found}"
        return found[0]

    def stop(self) -> None:
        """Stop the service and its loop (once; later calls do nothing)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.run(self.service.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(WAIT)
            self.loop.close()


ServiceFactory = Callable[..., RunningService]


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
