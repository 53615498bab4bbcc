"""The admin-socket control: the console's calls carried as JSON lines to a running service.

:class:`RemoteControl` implements :class:`~console.control.interface.Control`
(plus ``status``, ``bind``, ``unregister_protocol``, ``reload`` and
``recheck``) over the Unix socket of ``fwx serve``; the wire format is
documented in :mod:`engine.admin.protocol`. Calls may overlap: each request
carries an id and its reply is matched to it. Each subscription has a
connection of its own, so a stream of batches never delays a call. Every
failure is one line: :class:`ServiceNotRunning` when nothing listens,
:class:`AdminRefused` when the service refuses this user, :class:`AdminError`
for anything else the service answers (or a connection that drops).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self, TypeVar

from console.control.connection import (
    DISCONNECTED,
    AdminConnection,
    AdminError,
    ServiceNotRunning,
)
from engine.admin.batches import KEEP_EVENTS
from engine.admin.protocol import (
    NOT_FOUND,
    AllowParams,
    BindParams,
    NoParams,
    ProtocolParams,
    RecheckParams,
    SubscribeParams,
    TerminateParams,
    TomlText,
    decode_rules,
    encode_protocol,
    encode_rules,
)
from engine.admin.snapshots import (
    BindSnapshot,
    EventBatch,
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
from engine.admin.values import DecodeError, from_json, to_json
from engine.core.results import HResult
from rules.errors import RuleFileError
from rules.model import ProtocolDefinition, RuleSet

__all__ = ["RemoteControl", "RemoteEventStream"]

_T = TypeVar("_T")


def _decoded(tp: type[_T], method: str, raw: object) -> _T:
    try:
        return from_json(tp, raw)
    except DecodeError as err:
        raise AdminError("bad-reply", f"{method}: {err}") from None


class RemoteControl:
    """:class:`~console.control.interface.Control` over the admin socket at ``path``.

    ``await connect()`` (or ``async with``) before the first call. ``actor``
    is who the service records as acting (``admin:<name>(uid <n>)``).
    """

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        """A control for the service listening on ``path``; ``timeout`` bounds the greeting."""
        self.path = Path(path)
        self._timeout = timeout
        self._connection: AdminConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ended: AdminError | None = None
        self._last_id = 0

    @property
    def actor(self) -> str:
        """Who the service says this connection acts as (empty before ``connect``)."""
        return "" if self._connection is None else self._connection.actor

    async def connect(self) -> None:
        """Connect and read the greeting.

        :class:`ServiceNotRunning` when no service listens on the path,
        :class:`AdminRefused` when it refuses this user, :class:`AdminError` otherwise.
        """
        self._connection = await AdminConnection.open(self.path, self._timeout)
        self._ended = None
        self._reader = asyncio.ensure_future(self._read_replies(self._connection))

    async def close(self) -> None:
        """Close the connection; calls still waiting fail with ``AdminError(disconnected)``."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._connection is not None:
            self._connection.close()
        self._fail_all(AdminError(DISCONNECTED, f"the connection to {self.path} was closed"))

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read_replies(self, connection: AdminConnection) -> None:
        try:
            while True:
                message = await connection.receive()
                error = message.get("error")
                failure = None
                if isinstance(error, dict):
                    failure = AdminError(str(error.get("code")), str(error.get("message")))
                request_id = message.get("id")
                future = self._waiting.pop(request_id) if request_id in self._waiting else None
                if future is None:
                    if failure is not None:
                        self._fail_all(failure)
                elif failure is not None:
                    future.set_exception(failure)
                else:
                    future.set_result(message.get("result"))
        except AdminError as err:
            self._fail_all(err)

    def _fail_all(self, error: AdminError) -> None:
        self._ended = self._ended or error
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(error)

    async def _call(self, method: str, params: object, tp: type[_T]) -> _T:
        if self._connection is None:
            raise AdminError(DISCONNECTED, f"not connected to {self.path}: call connect() first")
        if self._ended is not None:
            raise self._ended
        self._last_id += 1
        request_id = self._last_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        request = {"id": request_id, "method": method, "params": to_json(params)}
        try:
            await self._connection.send(request)
        except AdminError as err:
            self._waiting.pop(request_id, None)
            self._fail_all(err)
            raise
        return _decoded(tp, method, await future)

    # -- listings --------------------------------------------------------------------

    async def status(self) -> StatusSnapshot:
        """The service at a glance: addresses, files, totals."""
        return await self._call("status", NoParams(), StatusSnapshot)

    async def info(self) -> ServiceInfo:
        """Where the service listens, its external address and rule file."""
        return await self._call("info", NoParams(), ServiceInfo)

    async def binds(self) -> list[BindSnapshot]:
        """Every live bind, by id."""
        return await self._call("binds", NoParams(), list[BindSnapshot])

    async def bind(self, bind_id: int) -> BindSnapshot | None:
        """One live bind, or None."""
        try:
            return await self._call("bind", BindParams(bind_id), BindSnapshot)
        except AdminError as err:
            if err.code == NOT_FOUND:
                return None
            raise

    async def sessions(self) -> list[SessionSnapshot]:
        """Every live session, by id."""
        return await self._call("sessions", NoParams(), list[SessionSnapshot])

    async def protocols(self) -> list[ProtocolSnapshot]:
        """Every protocol the engine knows, with where it comes from."""
        return await self._call("protocols", NoParams(), list[ProtocolSnapshot])

    async def rules(self) -> list[RuleSnapshot]:
        """The protocol rules in evaluation order."""
        return await self._call("rules", NoParams(), list[RuleSnapshot])

    async def ip_filters(self) -> list[IpFilterSetSnapshot]:
        """The named IP filter sets."""
        return await self._call("ip_filters", NoParams(), list[IpFilterSetSnapshot])

    async def openings(self) -> list[OpeningSnapshot]:
        """The packet-filter openings."""
        return await self._call("openings", NoParams(), list[OpeningSnapshot])

    async def get_rules(self) -> RuleSet:
        """The rule set in force."""
        text = await self._call("get_rules", NoParams(), TomlText)
        try:
            return decode_rules(text.toml)
        except RuleFileError as err:
            raise AdminError("bad-reply", f"get_rules: {err.problems[0]}") from None

    # -- actions ---------------------------------------------------------------------

    async def allow(
        self, bind_id: int, protocol: str | None, flags: int, ip_filter: IpFilterSpec
    ) -> HResult:
        """``RetroactiveAllowBind`` on the bind, for its own session (see the interface)."""
        params = AllowParams(bind_id, protocol, flags, ip_filter)
        return await self._call("allow", params, HResult)

    async def terminate(self, bind_id: int) -> HResult:
        """End the bind: the service closes its socket, the engine removes its opening."""
        return await self._call("terminate", TerminateParams(bind_id), HResult)

    async def recheck(self, bind_ids: Iterable[int]) -> list[RecheckResult]:
        """Apply the bind-time decision again to pending binds."""
        params = RecheckParams(tuple(bind_ids))
        return await self._call("recheck", params, list[RecheckResult])

    async def register_protocol(self, definition: ProtocolDefinition) -> Outcome:
        """Add ``definition`` to the rule file and apply it."""
        return await self._call("register_protocol", TomlText(encode_protocol(definition)), Outcome)

    async def unregister_protocol(self, protocol: str) -> Outcome:
        """Remove a protocol (GUID or name) from the rule file or the run-time registrations."""
        return await self._call("unregister_protocol", ProtocolParams(protocol), Outcome)

    async def put_rules(self, ruleset: RuleSet) -> Outcome:
        """Validate, save (keeping the previous file) and apply; on refusal nothing changes."""
        return await self._call("put_rules", TomlText(encode_rules(ruleset)), Outcome)

    async def reload(self) -> ReloadOutcome:
        """Read the rule file again; an invalid one changes nothing."""
        return await self._call("reload", NoParams(), ReloadOutcome)

    def subscribe(self, interval: float = 0.1) -> RemoteEventStream:
        """Batches of what changed, at most one per ``interval`` seconds, on a new connection."""
        return RemoteEventStream(self.path, interval, self._timeout)


class RemoteEventStream:
    """Event batches from a subscription connection; ``close`` ends it.

    Batches that arrive while the previous one is unread are merged, as the
    in-process stream does. A failure to subscribe (no service, refused, bad
    interval) is raised by the first ``__anext__``; the stream ends when the
    service closes the connection.
    """

    def __init__(self, path: Path, interval: float, timeout: float) -> None:
        """Connect and subscribe in the background; must be created on a running loop."""
        self._ready = asyncio.Event()
        self._pending: EventBatch | None = None
        self._ended = False
        self._error: AdminError | ServiceNotRunning | None = None
        self._task = asyncio.ensure_future(self._run(path, interval, timeout))

    async def _run(self, path: Path, interval: float, timeout: float) -> None:
        try:
            connection = await AdminConnection.open(path, timeout)
            try:
                await self._stream(connection, interval)
            finally:
                connection.close()
        except (AdminError, ServiceNotRunning) as err:
            if not (isinstance(err, AdminError) and err.code == DISCONNECTED):
                self._error = err
        finally:
            self._ended = True
            self._ready.set()

    async def _stream(self, connection: AdminConnection, interval: float) -> None:
        params = to_json(SubscribeParams(interval))
        await connection.send({"id": 1, "method": "subscribe", "params": params})
        answer = await connection.receive()
        error = answer.get("error")
        if isinstance(error, dict):
            raise AdminError(str(error.get("code")), str(error.get("message")))
        while True:
            message = await connection.receive()
            self._offer(_decoded(EventBatch, "subscribe", message.get("batch")))

    def _offer(self, batch: EventBatch) -> None:
        pending = self._pending
        self._pending = batch if pending is None else pending.merge(batch, KEEP_EVENTS)
        self._ready.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EventBatch:
        """The next batch (everything since the previous one), or the end of the stream."""
        while self._pending is None:
            if self._ended:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        batch, self._pending = self._pending, None
        return batch

    def close(self) -> None:
        """End the subscription; the stream ends once what is pending has been read."""
        self._ended = True
        self._ready.set()
        self._task.cancel()
