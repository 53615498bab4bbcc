"""Is the console still responsive under load? Timed admin calls and key presses, headless.

Each probe runs in a process of its own (the load generator's loop must not
delay it, and it must not delay the load generator), attached to the
service's admin socket like ``fwx console --attach`` and the one-shot
commands:

- ``status`` every 0.25 s, and the full ``binds`` listing every 5 s,
  through :class:`~console.control.remote.RemoteControl`, each timed from
  request to decoded answer;
- optionally the real Textual console (:class:`~console.tui.app.ConsoleApp`
  over ``RemoteControl``, ``App.run_test``): the time until it shows the
  first listing, then cursor key presses, each timed until the screen
  update that shows the moved cursor has been rendered.

The parent sends ``stop``; the child answers with every latency, in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from console.control.remote import RemoteControl

__all__ = ["JOBS", "ProbeProcess"]

JOBS = ("status", "binds", "tui")

STATUS_EVERY = 0.25
BINDS_EVERY = 5.0
KEY_EVERY = 0.2
_SIZE = (160, 50)
_WAIT = 120.0


class ProbeProcess:
    """One probe in a child process: ``start``, then ``stop`` for its latencies.

    ``job`` is ``status`` (``status`` calls every 0.25 s), ``binds`` (the full
    listing every 5 s) or ``tui`` (the Textual console, cursor keys every
    0.2 s). Each job has its own process and admin connection, so one
    job's decoding never delays another's timing.
    """

    def __init__(self, socket_path: Path, job: str, *, expected_rows: int = 0) -> None:
        context = multiprocessing.get_context("spawn")
        self.job = job
        self._pipe, child_end = context.Pipe()
        self._child_end = child_end
        self._process = context.Process(
            target=_child,
            args=(socket_path, job, expected_rows, child_end),
            name=f"fwx-load-probe-{job}",
            daemon=True,
        )

    def start(self) -> float | None:
        """Start probing; for the console, the seconds until it showed the first listing."""
        self._process.start()
        self._child_end.close()
        if not self._pipe.poll(_WAIT):
            self._process.kill()
            raise RuntimeError(f"the {self.job} probe did not get ready")
        ready: tuple[str, float | None] = self._pipe.recv()
        if ready[0] != "ready":
            raise RuntimeError(f"the {self.job} probe failed: {ready[1]}")
        return ready[1]

    def stop(self) -> list[float]:
        """Stop probing; every latency measured, in seconds (none if it never started)."""
        if self._process.pid is None:
            self._pipe.close()
            return []
        try:
            self._pipe.send("stop")
            if not self._pipe.poll(_WAIT):
                raise RuntimeError(f"the {self.job} probe did not stop")
            answer: tuple[str, Any] = self._pipe.recv()
            if answer[0] != "done":
                raise RuntimeError(f"the {self.job} probe failed: {answer[1]}")
            latencies: list[float] = answer[1]
            return latencies
        finally:
            self._process.join(_WAIT)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(_WAIT)
            self._pipe.close()


def _child(socket_path: Path, job: str, expected_rows: int, pipe: Connection) -> None:
    try:
        latencies = asyncio.run(_probe(socket_path, job, expected_rows, pipe))
    except Exception as exc:  # the parent reports it in one line
        pipe.send(("failed", repr(exc)))
        return
    pipe.send(("done", latencies))


async def _probe(socket_path: Path, job: str, expected_rows: int, pipe: Connection) -> list[float]:
    latencies: list[float] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_stop() -> None:
        loop.remove_reader(pipe.fileno())
        stop.set()

    loop.add_reader(pipe.fileno(), on_stop)
    async with RemoteControl(socket_path) as control:
        if job == "tui":
            await _with_console(control, expected_rows, pipe, stop, latencies)
        else:
            pipe.send(("ready", None))
            call = control.status if job == "status" else control.binds
            await _every(STATUS_EVERY if job == "status" else BINDS_EVERY, stop, call, latencies)
    return latencies


async def _every(
    period: float, stop: asyncio.Event, call: Callable[[], Awaitable[object]], into: list[float]
) -> None:
    """Time ``call`` every ``period`` seconds until ``stop``."""
    while not stop.is_set():
        started = time.perf_counter()
        await call()
        into.append(time.perf_counter() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period)


async def _with_console(
    control: RemoteControl,
    expected_rows: int,
    pipe: Connection,
    stop: asyncio.Event,
    latencies: list[float],
) -> None:
    """Attach the console, wait for the listing, then time cursor key presses until ``stop``."""
    from console.tui.app import ConsoleApp
    from console.tui.keyed_table import KeyedTable

    app = ConsoleApp(control)
    async with app.run_test(size=_SIZE) as pilot:
        table = app.screen.query_one("#binds-table", KeyedTable)
        started = time.perf_counter()
        async with asyncio.timeout(_WAIT):
            while table.row_count < expected_rows:
                await asyncio.sleep(0.05)
        pipe.send(("ready", time.perf_counter() - started))
        table.focus()
        table.move_cursor(table.row_count // 2)
        await pilot.pause()
        probe = _RenderProbe(app)
        number = 0
        while not stop.is_set():
            key = "down" if number % 40 < 20 else "up"
            latencies.append(await probe.press(key, _moved(table, table.selected_key())))
            number += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), KEY_EVERY)


def _moved(table: Any, before: str | None) -> Callable[[], bool]:
    """A check that the table's cursor is no longer on ``before``."""
    return lambda: table.selected_key() != before


class _RenderProbe:
    """Times from a key press to the first rendered screen update that shows its effect."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._original = app._display
        app._display = self._display
        self._check: Callable[[], bool] | None = None
        self._done = asyncio.Event()
        self._finished = 0.0

    def _display(self, screen: Any, renderable: Any) -> None:
        if renderable is not None:
            renderable.render_segments(self._app.console)
        self._original(screen, renderable)
        if self._check is not None and self._check():
            self._finished = time.perf_counter()
            self._check = None
            self._done.set()

    async def press(self, key: str, shows: Callable[[], bool]) -> float:
        """Press ``key``; seconds until a rendered update for which ``shows()`` holds."""
        started = time.perf_counter()
        self._done.clear()
        self._check = shows
        self._app.simulate_key(key)
        await asyncio.wait_for(self._done.wait(), _WAIT)
        return self._finished - started
