"""The fwx service under load, in a process of its own, and what /proc says about it.

The service runs in a child process (``multiprocessing``, spawn), so its
file descriptors and memory are its own and can be read from
``/proc/PID/fd`` and ``/proc/PID/status`` without the load generator's
sockets mixed in. It is built in-process (:class:`engine.service.Service`)
because the limits that load needs (``ServerOptions.max_connections``) are
not options of ``fwx serve``. It has an admin socket and an audit log in
its folder, like ``fwx serve --socket --audit``.

The parent talks to the child over a pipe: ``lag`` (how late the service's
event loop ran a timer that wakes every 50 ms, since the last ask: the
service's own responsiveness, whatever its clients do), ``trim`` (collect
garbage and hand freed heap back to the OS, to tell a leak from allocator
caching) and ``stop``. The child reports every warning and error the
service logged, and errors its event loop caught, as ``fwx serve`` would.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import resource
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from engine.audit import AuditOptions
from engine.service import Service
from engine.socks.server import ServerOptions

__all__ = [
    "ServiceProcess",
    "ServiceSpec",
    "cpu_seconds",
    "fd_count",
    "raise_fd_limit",
    "rss_kib",
]

START_WAIT = 30.0
"""Seconds the child gets to start (spawn, imports, audit file, listener)."""
STOP_WAIT = 30.0
"""Seconds the child gets to stop every connection and flush its audit log."""
STOP_GRACE = 0.2
"""Seconds for connections the parent closed just before ``stop`` to be seen closed.

An admin connection still open when the service stops makes it log an error
(Python 3.11 streams report the connection's cancelled task), so closes in
flight are let finish; a connection left open is still reported."""
LAG_TICK = 0.05
"""Seconds between the wake-ups whose lateness measures the service's event loop."""


@dataclass(frozen=True)
class ServiceSpec:
    """What service to run: its rule file's text, server limits, and whether it keeps an audit."""

    rules_text: str
    options: ServerOptions = field(default_factory=ServerOptions)
    audit: bool = True
    fd_limit: int | None = None
    """The child's soft ``RLIMIT_NOFILE`` (None: raised to the hard limit)."""


def raise_fd_limit(wanted: int | None = None) -> tuple[int, int]:
    """Set the soft ``RLIMIT_NOFILE`` to ``wanted`` (None: the hard limit); the previous limits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted or hard, hard), hard))
    return soft, hard


def fd_count(pid: int) -> int:
    """Open file descriptors of process ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process ``pid`` has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` (``VmRSS``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class ServiceProcess:
    """A :class:`Service` on 127.0.0.1 in a child process, with admin socket and audit log.

    ``start()`` returns once it listens; ``stop()`` returns what it logged
    at WARNING and above. Usable as a context manager (stopped on exit,
    killed if it does not stop in time).
    """

    def __init__(self, spec: ServiceSpec, folder: Path) -> None:
        """A service whose rule file, admin socket and audit log go in ``folder``."""
        self.spec = spec
        self.folder = folder
        self.rules_path = folder / "fwx.toml"
        self.socket_path = folder / "admin" / "admin.sock"
        self.audit_path = folder / "audit.sqlite"
        self.address: tuple[str, int] = ("", 0)
        self.logged: list[str] = []
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(
            target=_child,
            args=(spec, self.rules_path, self.socket_path, self.audit_path, child_end),
            name="fwx-service",
            daemon=True,
        )
        self._child_end = child_end

    @property
    def pid(self) -> int:
        """The child's process id."""
        pid = self._process.pid
        if pid is None:
            raise RuntimeError("the service process has not started")
        return pid

    def fds(self) -> int:
        """The service's open file descriptors now."""
        return fd_count(self.pid)

    def rss_kib(self) -> int:
        """The service's resident memory now, in KiB."""
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time the service has used so far."""
        return cpu_seconds(self.pid)

    def lags(self) -> list[float]:
        """How late (seconds) each 50 ms wake-up of the service's loop ran since the last call."""
        self._pipe.send("lag")
        lags: list[float] = self._receive(STOP_WAIT, "lag")[1]
        return lags

    def start(self) -> ServiceProcess:
        """Write the rule file, start the child, wait until it listens."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rules_path.write_text(self.spec.rules_text, encoding="utf-8")
        self._process.start()
        self._child_end.close()
        reply = self._receive(START_WAIT, "start")
        if reply[0] != "ready":
            self._process.join(STOP_WAIT)
            raise RuntimeError(f"the service did not start: {reply[1]}")
        self.address = reply[1]
        return self

    def trim(self) -> None:
        """Have the service collect garbage and return free heap to the OS (``malloc_trim``)."""
        self._pipe.send("trim")
        self._receive(STOP_WAIT, "trim")

    def stop(self) -> list[str]:
        """Stop the service (every connection ended, audit flushed); what it logged."""
        if not self._process.is_alive():
            return self.logged
        try:
            self._pipe.send("stop")
            reply = self._receive(STOP_WAIT, "stop")
            self.logged = list(reply[1])
        finally:
            self._process.join(STOP_WAIT)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(STOP_WAIT)
            self._pipe.close()
        return self.logged

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _receive(self, timeout: float, what: str) -> tuple[str, Any]:
        if not self._pipe.poll(timeout):
            self._process.kill()
            raise RuntimeError(f"the service process did not answer {what!r} in {timeout:g} s")
        reply: tuple[str, Any] = self._pipe.recv()
        return reply


class _Collector(logging.Handler):
    """Keeps every record of the ``fwx`` loggers at WARNING and above, as one line each."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname.lower()}: {record.name}: {record.getMessage()}")


def _child(
    spec: ServiceSpec, rules: Path, socket_path: Path, audit: Path, pipe: Connection
) -> None:
    """The child process: run the service until the parent says stop."""
    raise_fd_limit(spec.fd_limit)
    collector = _Collector()
    logging.getLogger("fwx").addHandler(collector)
    try:
        service = Service(
            rules,
            listen="127.0.0.1:0",
            options=spec.options,
            admin_socket=socket_path,
            audit=AuditOptions(audit) if spec.audit else None,
        )
    except Exception as exc:  # the parent reports why the service could not start
        pipe.send(("failed", f"{exc}"))
        return
    asyncio.run(_serve(service, pipe, collector))


async def _serve(service: Service, pipe: Connection, collector: _Collector) -> None:
    try:
        await service.start()
    except Exception as exc:  # the parent reports why the service could not start
        pipe.send(("failed", f"{exc}"))
        return
    pipe.send(("ready", service.address))
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_log_loop_error)
    stop = asyncio.Event()
    lags: list[float] = []
    monitor = asyncio.ensure_future(_watch_lag(lags))

    def on_command() -> None:
        command = pipe.recv()
        if command == "trim":
            _trim()
            pipe.send(("trimmed", None))
        elif command == "lag":
            pipe.send(("lag", lags[:]))
            lags.clear()
        else:
            stop.set()

    loop.add_reader(pipe.fileno(), on_command)
    try:
        await stop.wait()
        await asyncio.sleep(STOP_GRACE)
    finally:
        loop.remove_reader(pipe.fileno())
        monitor.cancel()
        await service.stop()
    pipe.send(("stopped", collector.lines))


async def _watch_lag(lags: list[float]) -> None:
    """Record how late every ``LAG_TICK`` wake-up runs: the loop's delay for any callback."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_TICK
        await asyncio.sleep(LAG_TICK)
        lags.append(max(0.0, loop.time() - due))


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What ``fwx serve`` does with an error the event loop caught: one error line."""
    error = context.get("exception")
    message = context.get("message", "event loop error")
    logging.getLogger("fwx").error("%s: %r", message, error)


def _trim() -> None:
    """Collect garbage, then return the C heap's free memory to the OS (glibc only)."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)
