"""The in-process control: the service runs on its own event loop, in its own thread.

Heavy traffic never freezes the screen and a busy screen never slows
traffic, because they never share a loop. Every call of the
:class:`~console.control.interface.Control` interface is marshalled onto the
service's loop (``call_soon_threadsafe`` / ``run_coroutine_threadsafe``),
runs there against the engine, and comes back as plain snapshot values; the
console never holds an engine object.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import getpass
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from console.control.feed import LocalEventStream
from engine import Engine, HResult
from engine.admin.operations import Operations
from engine.admin.snapshots import (
    BindSnapshot,
    IpFilterSetSnapshot,
    IpFilterSpec,
    OpeningSnapshot,
    Outcome,
    ProtocolSnapshot,
    RecheckResult,
    ReloadOutcome,
    RuleSnapshot,
    ServiceInfo,
    SessionSnapshot,
    StatusSnapshot,
)
from rules.model import ProtocolDefinition, RuleSet

if TYPE_CHECKING:
    from engine.service import Service

__all__ = ["LocalControl"]

_T = TypeVar("_T")


def _operator() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return "operator"


class LocalControl:
    """:class:`~console.control.interface.Control` over a :class:`Service` in this process.

    ``clock`` must be the engine's clock (``time.monotonic`` unless the
    service was given another); ``wall_clock`` dates snapshots. ``actor`` is
    who allows binds (``operator:<login>``); ``notes`` are shown once by
    the console (for example, that a starter rule file was created).
    """

    def __init__(
        self,
        service: Service,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        actor: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        """A control for ``service`` (and its rule file); call :meth:`start`."""
        self.service = service
        self._operations = Operations(
            service, clock=clock, wall_clock=wall_clock, auditor=service.audit
        )
        self._actor = actor or _operator()
        self._notes = notes
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fwx-service")
        self._started = False

    # -- life cycle (called from the console's thread, before and after the UI) ------

    def start(self, timeout: float = 10.0) -> None:
        """Start the service thread and the service; raises whatever ``start`` raised."""
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.service.start(), self._loop).result(timeout)
        except BaseException:
            self._halt()
            raise
        self._started = True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the service (every bind and relay closed), end the event streams, join."""
        if self._started:
            self._started = False
            asyncio.run_coroutine_threadsafe(self._finish(), self._loop).result(timeout)
        self._halt()

    async def _finish(self) -> None:
        await self.service.stop()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _halt(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()

    def __enter__(self) -> LocalControl:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, work: Callable[[Engine], _T], timeout: float = 10.0) -> _T:
        """Run ``work(engine)`` on the service's loop and wait for it (scripts, tests, demo)."""
        return self._submit(lambda: work(self.service.engine)).result(timeout)

    # -- marshalling -----------------------------------------------------------------

    def _submit(self, work: Callable[[], _T]) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(work())
            except BaseException as err:
                future.set_exception(err)

        self._loop.call_soon_threadsafe(run)
        return future

    async def _on_service(self, work: Callable[[], _T]) -> _T:
        return await asyncio.wrap_future(self._submit(work))

    async def _run_coroutine(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    @property
    def _engine(self) -> Engine:
        return self.service.engine

    # -- listings --------------------------------------------------------------------

    async def info(self) -> ServiceInfo:
        """Where the service listens, its external address and rule file."""
        return await self._on_service(lambda: self._operations.info(self._notes))

    async def status(self) -> StatusSnapshot:
        """The service at a glance: addresses, files, totals."""
        return await self._on_service(self._operations.status)

    async def binds(self) -> list[BindSnapshot]:
        """Every live bind, by id."""
        return await self._on_service(self._operations.binds)

    async def bind(self, bind_id: int) -> BindSnapshot | None:
        """One live bind, or None."""
        return await self._on_service(lambda: self._operations.bind(bind_id))

    async def sessions(self) -> list[SessionSnapshot]:
        """Every live session, by id."""
        return await self._on_service(self._operations.sessions)

    async def protocols(self) -> list[ProtocolSnapshot]:
        """Every protocol the engine knows, with where it comes from."""
        return await self._on_service(self._operations.protocols)

    async def rules(self) -> list[RuleSnapshot]:
        """The protocol rules in evaluation order."""
        return await self._on_service(self._operations.rules)

    async def ip_filters(self) -> list[IpFilterSetSnapshot]:
        """The named IP filter sets."""
        return await self._on_service(self._operations.ip_filters)

    async def openings(self) -> list[OpeningSnapshot]:
        """The packet-filter openings."""
        return await self._on_service(self._operations.openings)

    async def get_rules(self) -> RuleSet:
        """The rule set in force."""
        return await self._on_service(self._operations.get_rules)

    # -- actions ---------------------------------------------------------------------

    async def allow(
        self, bind_id: int, protocol: str | None, flags: int, ip_filter: IpFilterSpec
    ) -> HResult:
        """``RetroactiveAllowBind`` on the bind, for its own session (see the interface)."""
        return await self._run_coroutine(
            self._operations.allow(bind_id, protocol, flags, ip_filter, actor=self._actor)
        )

    async def terminate(self, bind_id: int) -> HResult:
        """End the bind: the service closes its socket, the engine removes its opening."""
        return await self._run_coroutine(self._operations.terminate(bind_id, actor=self._actor))

    async def recheck(self, bind_ids: list[int]) -> list[RecheckResult]:
        """Apply the bind-time decision again to pending binds."""
        return await self._run_coroutine(self._operations.recheck(bind_ids, actor=self._actor))

    async def register_protocol(self, definition: ProtocolDefinition) -> Outcome:
        """Add ``definition`` to the rule file and apply it."""
        return await self._run_coroutine(
            self._operations.register_protocol(definition, actor=self._actor)
        )

    async def unregister_protocol(self, protocol: str) -> Outcome:
        """Remove a protocol (GUID or name) from the rule file or the run-time registrations."""
        return await self._run_coroutine(
            self._operations.unregister_protocol(protocol, actor=self._actor)
        )

    async def put_rules(self, ruleset: RuleSet) -> Outcome:
        """Validate, save (keeping the previous file) and apply; on refusal nothing changes."""
        return await self._run_coroutine(self._operations.put_rules(ruleset, actor=self._actor))

    async def reload(self) -> ReloadOutcome:
        """Read the rule file again; an invalid one changes nothing."""
        return await self._run_coroutine(self._operations.reload(actor=self._actor))

    def subscribe(self, interval: float = 0.1) -> LocalEventStream:
        """Batches of what changed, at most one per ``interval`` seconds."""
        return LocalEventStream(self._loop, self._engine, self._operations.timebase, interval)
