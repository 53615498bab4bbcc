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
import dataclasses
import getpass
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from console.control.convert import (
    bind_snapshot,
    ip_filter_set_snapshot,
    opening_snapshot,
    protocol_snapshot,
    rule_snapshots,
    session_snapshot,
)
from console.control.feed import LocalEventStream
from console.control.snapshots import (
    BindSnapshot,
    IpFilterSetSnapshot,
    IpFilterSpec,
    OpeningSnapshot,
    Outcome,
    ProtocolSnapshot,
    RuleSnapshot,
    ServiceInfo,
    SessionSnapshot,
    Timebase,
)
from engine import KNOWN_FLAGS, Engine, HResult, IpFilter
from rules.errors import RuleFileError
from rules.model import ProtocolDefinition, RuleSet
from rules.saver import save
from rules.validate import validate

if TYPE_CHECKING:
    from engine.service import Service

__all__ = ["LocalControl", "build_ip_filter"]

_T = TypeVar("_T")


def build_ip_filter(spec: IpFilterSpec, ruleset: RuleSet) -> IpFilter | None:
    """The engine IP filter ``spec`` stands for; ValueError when it does not parse."""
    if spec.mode == "none":
        return None
    if spec.mode == "block":
        return IpFilter()
    if spec.mode == "set":
        named = ruleset.ip_filter(spec.set_name)
        if named is None:
            raise ValueError(f"no IP filter set named {spec.set_name!r}")
        return IpFilter.from_specs(named.include, named.exclude)
    if spec.mode == "ranges":
        return IpFilter.from_specs(spec.include, spec.exclude)
    raise ValueError(f"{spec.mode!r} is not an IP filter mode (none, block, set, ranges)")


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
        self.rules_path = service.rules_path
        self._clock = clock
        self._wall_clock = wall_clock
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

    def _timebase(self) -> Timebase:
        return Timebase(self._clock(), self._wall_clock())

    # -- listings --------------------------------------------------------------------

    async def info(self) -> ServiceInfo:
        """Where the service listens, its external address and rule file."""

        def read() -> ServiceInfo:
            host, port = self.service.address
            listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            config = self._engine.rules.service
            return ServiceInfo(
                listen=listen,
                external=self.service.external,
                rules_path=str(self.rules_path),
                packet_filtering=config.packet_filtering,
                notes=self._notes,
            )

        return await self._on_service(read)

    async def binds(self) -> list[BindSnapshot]:
        """Every live bind, by id."""

        def read() -> list[BindSnapshot]:
            time_ = self._timebase()
            names = {proto.guid: proto.name for proto in self._engine.protocols()}
            return [bind_snapshot(bind, time_, names) for bind in self._engine.binds()]

        return await self._on_service(read)

    async def sessions(self) -> list[SessionSnapshot]:
        """Every live session, by id."""

        def read() -> list[SessionSnapshot]:
            time_ = self._timebase()
            return [session_snapshot(session, time_) for session in self._engine.sessions()]

        return await self._on_service(read)

    async def protocols(self) -> list[ProtocolSnapshot]:
        """Every protocol the engine knows, with where it comes from."""

        def read() -> list[ProtocolSnapshot]:
            from_file = {proto.guid for proto in self._engine.rules.protocols}
            return [
                protocol_snapshot(proto, "rules" if proto.guid in from_file else "registered")
                for proto in self._engine.protocols()
            ]

        return await self._on_service(read)

    async def rules(self) -> list[RuleSnapshot]:
        """The protocol rules in evaluation order."""
        return await self._on_service(lambda: rule_snapshots(self._engine.rules))

    async def ip_filters(self) -> list[IpFilterSetSnapshot]:
        """The named IP filter sets."""
        return await self._on_service(
            lambda: [ip_filter_set_snapshot(item) for item in self._engine.rules.ip_filters]
        )

    async def openings(self) -> list[OpeningSnapshot]:
        """The packet-filter openings."""
        return await self._on_service(
            lambda: [opening_snapshot(item) for item in self._engine.openings()]
        )

    # -- actions ---------------------------------------------------------------------

    async def allow(
        self, bind_id: int, protocol: str | None, flags: int, ip_filter: IpFilterSpec
    ) -> HResult:
        """``RetroactiveAllowBind`` on the bind, for its own session (see the interface)."""
        return await self._on_service(lambda: self._allow(bind_id, protocol, flags, ip_filter))

    def _allow(self, bind_id: int, protocol: str | None, flags: int, spec: IpFilterSpec) -> HResult:
        engine = self._engine
        try:
            guid = None if protocol is None else uuid.UUID(protocol.strip().strip("{}"))
            ip_filter = build_ip_filter(spec, engine.rules)
        except ValueError:
            return HResult.E_INVALIDARG
        if flags & ~int(KNOWN_FLAGS):
            return HResult.E_INVALIDARG
        bind = engine.get_bind(bind_id)
        if bind is None:
            return HResult.NOT_FOUND
        return engine.retroactive_allow_bind(
            bind.session,
            int(bind.transport),
            bind.address,
            None,
            guid,
            flags,
            ip_filter,
            actor=self._actor,
        )

    async def terminate(self, bind_id: int) -> HResult:
        """End the bind: the service closes its socket, the engine removes its opening."""
        return await self._run_coroutine(self.service.terminate(bind_id))

    async def register_protocol(self, definition: ProtocolDefinition) -> Outcome:
        """Add ``definition`` to the rule file and apply it."""
        return await self._run_coroutine(self._register(definition))

    async def _register(self, definition: ProtocolDefinition) -> Outcome:
        engine = self._engine
        if any(proto.guid == definition.guid for proto in engine.protocols()):
            return Outcome(HResult.ALREADY_EXISTS, message=f"{definition.guid} is registered")
        current = engine.rules
        ruleset = dataclasses.replace(current, protocols=(*current.protocols, definition))
        return await self._put(ruleset)

    async def get_rules(self) -> RuleSet:
        """The rule set in force."""
        return await self._on_service(lambda: self._engine.rules)

    async def put_rules(self, ruleset: RuleSet) -> Outcome:
        """Validate, save (keeping the previous file) and apply; on refusal nothing changes."""
        return await self._run_coroutine(self._put(ruleset))

    async def _put(self, ruleset: RuleSet) -> Outcome:
        problems = validate(ruleset)
        if problems:
            return Outcome(HResult.E_INVALIDARG, tuple(str(problem) for problem in problems))
        previous = self._engine.rules
        try:
            save(ruleset, self.rules_path)
        except RuleFileError as err:
            return Outcome(HResult.E_INVALIDARG, tuple(str(p) for p in err.problems))
        except OSError as err:
            return Outcome(HResult.E_INVALIDARG, message=f"{self.rules_path}: {err.strerror}")
        try:
            change = self.service.reload()
        except RuleFileError as err:
            save(previous, self.rules_path)
            return Outcome(HResult.E_INVALIDARG, tuple(str(p) for p in err.problems))
        return Outcome(HResult.S_OK, message=change.summary())

    def subscribe(self, interval: float = 0.1) -> LocalEventStream:
        """Batches of what changed, at most one per ``interval`` seconds."""
        return LocalEventStream(self._loop, self._engine, self._timebase, interval)
