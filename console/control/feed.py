"""The in-process live feed: coalesced :class:`EventBatch` values carried across threads.

On the service's loop, a pump drains the engine subscription every interval
and builds one batch (:class:`~engine.admin.batches.BatchBuilder`). On the
console's loop, a batch that arrives while the previous one is still unread
is merged into it, so a slow screen gets fewer, larger batches and never a
backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Self

from engine import Engine, Subscription
from engine.admin.batches import KEEP_EVENTS, BatchBuilder
from engine.admin.snapshots import EventBatch, Timebase

__all__ = ["LocalEventStream"]


class LocalEventStream:
    """An async iterator of batches, fed across threads by the service loop's pump."""

    def __init__(
        self,
        service_loop: asyncio.AbstractEventLoop,
        engine: Engine,
        timebase: Callable[[], Timebase],
        interval: float,
    ) -> None:
        """Start pumping ``engine``'s events every ``interval`` seconds.

        Must be created on the console's running loop, which receives the batches.
        """
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._pending: EventBatch | None = None
        self._ended = False
        self._task = asyncio.run_coroutine_threadsafe(
            self._pump(engine, timebase, interval), service_loop
        )

    async def _pump(
        self, engine: Engine, timebase: Callable[[], Timebase], interval: float
    ) -> None:
        subscription: Subscription = engine.subscribe()
        builder = BatchBuilder(engine, timebase)
        try:
            while True:
                await asyncio.sleep(interval)
                drained = subscription.drain()
                batch = builder.build(drained)
                if drained or batch.binds or batch.removed_binds:
                    self._loop.call_soon_threadsafe(self._offer, batch)
        finally:
            subscription.close()
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._end)

    def _offer(self, batch: EventBatch) -> None:
        pending = self._pending
        self._pending = batch if pending is None else pending.merge(batch, KEEP_EVENTS)
        self._ready.set()

    def _end(self) -> None:
        self._ended = True
        self._ready.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EventBatch:
        """The next batch (everything since the previous one), or the end of the stream."""
        while self._pending is None:
            if self._ended:
                raise StopAsyncIteration
            await self._ready.wait()
            self._ready.clear()
        batch, self._pending = self._pending, None
        return batch

    def close(self) -> None:
        """Stop the pump; the stream ends once what is pending has been read."""
        self._ended = True
        self._ready.set()
        self._task.cancel()
