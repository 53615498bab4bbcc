"""The admin socket server: :class:`Operations` over JSON lines on a Unix domain socket.

Each connection is checked with ``SO_PEERCRED`` (root, the service's own
user and configured uids only; a refusal is answered, logged and closed),
greeted, then served one request at a time, in order, on the service's event
loop. The wire format is documented in :mod:`engine.admin.protocol`. A bad
request gets an error reply, never a traceback; an unexpected failure inside
the service is logged with its traceback and answered ``internal``; neither
disturbs other connections. A subscription turns its connection into a
stream of event batches; batches the client has not read yet are merged, so
a slow reader holds at most one pending batch on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from engine.admin.batches import KEEP_EVENTS
from engine.admin.operations import Operations
from engine.admin.paths import bind_socket, claim_path, prepare_folder, release_path
from engine.admin.protocol import (
    BAD_PARAMS,
    INTERNAL,
    INTERVAL_MAX,
    INTERVAL_MIN,
    NOT_FOUND,
    PROTOCOL_VERSION,
    REFUSED,
    UNKNOWN_METHOD,
    AllowParams,
    BindParams,
    LineDecoder,
    NoParams,
    ProtocolError,
    ProtocolParams,
    RecheckParams,
    Request,
    SubscribeParams,
    TerminateParams,
    TomlText,
    decode_params,
    decode_protocol,
    decode_rules,
    encode_message,
    encode_rules,
    error_message,
    parse_request,
)
from engine.admin.snapshots import BindSnapshot, EventBatch, Outcome
from engine.admin.values import to_json
from engine.core import HResult
from rules.errors import RuleFileError, did_you_mean

__all__ = ["AdminServer", "BatchOutbox", "SubscriberBacklog", "actor_text"]

logger = logging.getLogger("fwx.admin")


_READ_SIZE = 64 * 1024

_Handler = Callable[[Request, str], Awaitable[Any]]
_P = TypeVar("_P")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def actor_text(uid: int) -> str:
    """Who a connection acts as, in audit records: ``admin:<name>(uid <n>)``."""
    return f"admin:{_user_name(uid)}(uid {uid})"


def _peer_credentials(writer: asyncio.StreamWriter) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process at the other end of a Unix socket."""
    sock = writer.get_extra_info("socket")
    size = struct.calcsize("3i")
    pid, uid, gid = struct.unpack(
        "3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size)
    )
    return pid, uid, gid


@dataclass(frozen=True, slots=True)
class SubscriberBacklog:
    """What one subscriber has not received yet: bytes queued to send, events waiting."""

    unsent_bytes: int
    pending_events: int
    merges: int


class BatchOutbox:
    """The batches one subscriber has not been sent yet, always merged into one."""

    def __init__(self, keep_events: int = KEEP_EVENTS) -> None:
        """An empty outbox; merged batches keep the newest ``keep_events`` events."""
        self._keep = keep_events
        self._pending: EventBatch | None = None
        self._ready = asyncio.Event()
        self.merges = 0

    @property
    def pending(self) -> EventBatch | None:
        """The batch waiting to be sent, if any."""
        return self._pending

    def offer(self, batch: EventBatch) -> None:
        """Queue ``batch``, merging it into the one already waiting."""
        if self._pending is None:
            self._pending = batch
        else:
            self._pending = self._pending.merge(batch, self._keep)
            self.merges += 1
        self._ready.set()

    async def take(self) -> EventBatch:
        """The waiting batch, once there is one."""
        while self._pending is None:
            self._ready.clear()
            await self._ready.wait()
        batch, self._pending = self._pending, None
        return batch


@dataclass(eq=False)
class _Subscriber:
    outbox: BatchOutbox
    writer: asyncio.StreamWriter

    def backlog(self) -> SubscriberBacklog:
        """What the server holds for this subscriber now."""
        pending = self.outbox.pending
        return SubscriberBacklog(
            unsent_bytes=self.writer.transport.get_write_buffer_size(),
            pending_events=0 if pending is None else len(pending.events),
            merges=self.outbox.merges,
        )


class AdminServer:
    """The admin socket of one service, at ``path``, answering with ``operations``."""

    def __init__(
        self, operations: Operations, path: Path, *, allowed_uids: Iterable[int] = ()
    ) -> None:
        """A server for ``operations``; uids in ``allowed_uids`` may connect besides root and us."""
        self._operations = operations
        self._path = Path(path)
        self._permitted = frozenset({0, os.geteuid(), *allowed_uids})
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._subscribers: set[_Subscriber] = set()
        self._handlers = self._handler_table()

    @property
    def path(self) -> Path:
        """The socket file."""
        return self._path

    @property
    def clients(self) -> int:
        """Connections open now (subscriptions included)."""
        return len(self._tasks)

    def backlogs(self) -> list[SubscriberBacklog]:
        """For each subscription, what the server holds for it that the client has not read."""
        return [item.backlog() for item in self._subscribers]

    async def start(self) -> None:
        """Claim the path and listen; :class:`AdminSocketError` (one line) when it cannot."""
        prepare_folder(self._path.parent)
        await claim_path(self._path)
        sock, self._identity = bind_socket(self._path)
        self._server = await asyncio.start_unix_server(self._serve, sock=sock)
        logger.info("admin socket listening on %s", self._path)

    async def stop(self) -> None:
        """Stop listening, close every connection (subscriptions end), remove our socket file."""
        if self._server is None:
            return
        self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        if self._identity is not None:
            release_path(self._path, self._identity)

    # -- one connection --------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled by stop(): end quietly, for the streams' done-callback of Python
            # 3.11 reads the task's exception and would log a cancelled one as an error.
            pass
        except Exception:  # a bug must end this connection only, never the service
            logger.exception("admin connection failed")
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pid, uid, _ = _peer_credentials(writer)
        if uid not in self._permitted:
            refusal = f"uid {uid} ({_user_name(uid)}) may not use this socket"
            logger.warning("refused an admin connection from pid %d: %s", pid, refusal)
            await _send(writer, {"error": {"code": REFUSED, "message": refusal}})
            return
        actor = actor_text(uid)
        hello = {
            "service": "fwx",
            "protocol": PROTOCOL_VERSION,
            "version": self._operations.version,
        }
        await _send(writer, {"hello": {**hello, "actor": actor}})
        decoder = LineDecoder()
        while data := await reader.read(_READ_SIZE):
            decoder.receive(data)
            try:
                while (message := decoder.next_message()) is not None:
                    request = parse_request(message)
                    if request.method == "subscribe":
                        if await self._subscribe(request, reader, writer):
                            return
                        continue
                    await _send(writer, await self._answer(request, actor))
            except ProtocolError as err:
                await _send(writer, error_message(err.request_id, err.code, err.message))
                return

    async def _answer(self, request: Request, actor: str) -> dict[str, Any]:
        handler = self._handlers.get(request.method)
        if handler is None:
            hint = did_you_mean(request.method, [*self._handlers, "subscribe"])
            return error_message(request.id, UNKNOWN_METHOD, f"no method {request.method!r}{hint}")
        try:
            return {"id": request.id, "result": await handler(request, actor)}
        except ProtocolError as err:
            return error_message(request.id, err.code, err.message)
        except Exception:
            logger.exception("admin request %r by %s failed", request.method, actor)
            message = f"{request.method} failed inside the service; its log has the details"
            return error_message(request.id, INTERNAL, message)

    # -- subscriptions ---------------------------------------------------------------

    async def _subscribe(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Stream batches until the client closes; False (and an error reply) for bad params."""
        try:
            interval = _interval(request)
        except ProtocolError as err:
            await _send(writer, error_message(request.id, err.code, err.message))
            return False
        await _send(writer, {"id": request.id, "result": {"subscribed": True}})
        subscriber = _Subscriber(BatchOutbox(), writer)
        self._subscribers.add(subscriber)
        tasks = [
            asyncio.ensure_future(self._pump(subscriber.outbox, interval)),
            asyncio.ensure_future(_deliver(subscriber.outbox, writer, request.id)),
            asyncio.ensure_future(_until_closed(reader)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._subscribers.discard(subscriber)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, ConnectionError):
                logger.error("admin subscription failed", exc_info=error)
        return True

    async def _pump(self, outbox: BatchOutbox, interval: float) -> None:
        """Every ``interval``, drain the engine subscription into one batch for the outbox."""
        subscription = self._operations.subscribe()
        builder = self._operations.batch_builder()
        try:
            while True:
                await asyncio.sleep(interval)
                drained = subscription.drain()
                batch = builder.build(drained)
                if drained or batch.binds or batch.removed_binds:
                    outbox.offer(batch)
        finally:
            subscription.close()

    # -- requests --------------------------------------------------------------------

    def _handler_table(self) -> dict[str, _Handler]:
        """Method name -> handler: listings are called directly, changes awaited."""
        ops = self._operations
        return {
            "status": _reading(NoParams, lambda _: ops.status()),
            "info": _reading(NoParams, lambda _: ops.info()),
            "binds": _reading(NoParams, lambda _: ops.binds()),
            "sessions": _reading(NoParams, lambda _: ops.sessions()),
            "protocols": _reading(NoParams, lambda _: ops.protocols()),
            "rules": _reading(NoParams, lambda _: ops.rules()),
            "ip_filters": _reading(NoParams, lambda _: ops.ip_filters()),
            "openings": _reading(NoParams, lambda _: ops.openings()),
            "bind": _reading(BindParams, self._bind),
            "get_rules": _reading(NoParams, lambda _: TomlText(encode_rules(ops.get_rules()))),
            "allow": _changing(
                AllowParams,
                lambda p, by: ops.allow(p.bind_id, p.protocol, p.flags, p.ip_filter, actor=by),
            ),
            "terminate": _changing(
                TerminateParams, lambda p, by: ops.terminate(p.bind_id, actor=by)
            ),
            "recheck": _changing(RecheckParams, lambda p, by: ops.recheck(p.bind_ids, actor=by)),
            "register_protocol": _changing(TomlText, self._register_protocol),
            "unregister_protocol": _changing(
                ProtocolParams, lambda p, by: ops.unregister_protocol(p.protocol, actor=by)
            ),
            "put_rules": _changing(TomlText, self._put_rules),
            "reload": _changing(NoParams, lambda _, by: ops.reload(actor=by)),
        }

    def _bind(self, params: BindParams) -> BindSnapshot:
        snapshot = self._operations.bind(params.id)
        if snapshot is None:
            raise ProtocolError(NOT_FOUND, f"no live bind with id {params.id}")
        return snapshot

    async def _register_protocol(self, params: TomlText, actor: str) -> Outcome:
        try:
            definition = decode_protocol(params.toml, self._operations.get_rules())
        except RuleFileError as err:
            return _refused(err)
        return await self._operations.register_protocol(definition, actor=actor)

    async def _put_rules(self, params: TomlText, actor: str) -> Outcome:
        try:
            ruleset = decode_rules(params.toml)
        except RuleFileError as err:
            return _refused(err)
        return await self._operations.put_rules(ruleset, actor=actor)


def _reading(cls: type[_P], read: Callable[[_P], object]) -> _Handler:
    """A handler that decodes ``cls`` parameters and answers what ``read`` returns."""

    async def handle(request: Request, actor: str) -> Any:
        return to_json(read(decode_params(cls, request.params, request.id)))

    return handle


def _changing(cls: type[_P], act: Callable[[_P, str], Awaitable[object]]) -> _Handler:
    """A handler that decodes ``cls`` parameters and awaits ``act`` with the actor."""

    async def handle(request: Request, actor: str) -> Any:
        return to_json(await act(decode_params(cls, request.params, request.id), actor))

    return handle


def _interval(request: Request) -> float:
    """The interval a subscription asks for, or :class:`ProtocolError` ``bad-params``."""
    params = decode_params(SubscribeParams, request.params, request.id)
    if not INTERVAL_MIN <= params.interval <= INTERVAL_MAX:
        limits = f"between {INTERVAL_MIN} and {INTERVAL_MAX} seconds"
        raise ProtocolError(BAD_PARAMS, f"params.interval: must be {limits}", request.id)
    return params.interval


def _refused(err: RuleFileError) -> Outcome:
    return Outcome(HResult.E_INVALIDARG, tuple(str(problem) for problem in err.problems))


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(encode_message(message))
    await writer.drain()


async def _deliver(outbox: BatchOutbox, writer: asyncio.StreamWriter, request_id: int) -> None:
    """Send the subscriber's batches as fast as it reads them."""
    while True:
        batch = await outbox.take()
        await _send(writer, {"id": request_id, "batch": to_json(batch)})


async def _until_closed(reader: asyncio.StreamReader) -> None:
    """Read (and ignore) what a subscriber sends, until it closes the connection."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(_READ_SIZE):
            pass
