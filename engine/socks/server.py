"""The asyncio SOCKS5 server: accept, handshake with time-outs, authenticate, dispatch.

Each client connection runs the sans-I/O codec (:mod:`engine.socks.codec`)
over a non-blocking socket. After the handshake the request goes to its
handler: CONNECT (:mod:`engine.socks.connect`), BIND (:mod:`engine.socks.bind`)
or UDP ASSOCIATE (:mod:`engine.socks.udp_relay`); the engine makes every
decision. A malformed message gets the codec's answer and a close, a phase
that takes too long is closed, and nothing a client sends reaches the log as
a traceback.

Sessions are per (client IP, authenticated user), shared by that identity's
concurrent connections (reference §14.2); the session ends when the last of
them closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import secrets
import socket
from dataclasses import dataclass
from typing import TypeVar

from engine.core import Bind, BindState, Endpoint, Engine, Session
from engine.socks.bind import serve_bind
from engine.socks.codec import ServerConnection
from engine.socks.connect import serve_connect
from engine.socks.messages import (
    NEED_DATA,
    AuthMethod,
    Command,
    Credentials,
    Greeting,
    ProtocolError,
    Reply,
    Request,
)
from engine.socks.udp_relay import serve_udp_associate
from rules.model import AuthMode
from rules.passwords import hash_password, verify_password

__all__ = ["ACCEPT_PAUSE", "ServerOptions", "SocksServer"]

logger = logging.getLogger("fwx.socks")

_E = TypeVar("_E", Greeting, Credentials, Request)

_READ_SIZE = 4096
_ACCEPT_BURST = 64
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

ACCEPT_PAUSE = 1.0
"""Seconds the server stops accepting when the system is out of descriptors or memory."""


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Limits and time-outs of the SOCKS5 server (the rule file does not carry these)."""

    phase_timeout: float = 10.0
    """Seconds a client gets for each handshake message (greeting, credentials, request)."""
    connect_timeout: float = 30.0
    """Seconds an outgoing CONNECT (name resolution included) may take."""
    max_connections: int = 4096
    """Client connections served at once; more are closed on arrival."""
    max_sessions: int = 1024
    """Distinct (client IP, user) identities at once; a new one past this gets 0x01."""


class _Refused(Exception):
    """The handshake ended with a refusal already sent to the client."""


class _Gone(Exception):
    """The client closed its connection."""


class SocksServer:
    """Serves SOCKS5 clients on one listening socket, deciding everything through ``engine``."""

    def __init__(self, engine: Engine, *, external: str, options: ServerOptions) -> None:
        """A server whose binds and outgoing connections use the ``external`` IP address."""
        self._engine = engine
        self._external = external
        self._options = options
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._identities: dict[tuple[str, str | None], Session] = {}
        self._counts: dict[int, int] = {}
        self._tracked: dict[int, tuple[Bind, asyncio.Task[None]]] = {}

    @property
    def address(self) -> Endpoint:
        """The (host, port) the server listens on."""
        if self._listener is None:
            raise RuntimeError("the SOCKS server is not listening")
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def connections(self) -> int:
        """Client connections being served now."""
        return len(self._tasks)

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host``:``port`` (port 0: the OS picks); raises OSError when it cannot."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(1024)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._on_acceptable)

    async def stop(self) -> None:
        """Stop listening and end every connection, bind and relay."""
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def reap(self) -> list[asyncio.Task[None]]:
        """End the connections whose bind the engine ended (expiry, operator, session end).

        Returns the connections' tasks, cancelled; they close their sockets as they finish.
        """
        ended = [
            task
            for bind, task in self._tracked.values()
            if bind.state in (BindState.TERMINATING, BindState.CLOSED)
        ]
        for task in ended:
            task.cancel()
        return ended

    def track(self, bind: Bind) -> None:
        """Tie ``bind`` to the running connection, so ``reap`` can end it."""
        task = asyncio.current_task()
        if task is not None:
            self._tracked[bind.id] = (bind, task)

    def untrack(self, bind: Bind) -> None:
        """Forget ``bind`` (its connection is ending it)."""
        self._tracked.pop(bind.id, None)

    def _on_acceptable(self) -> None:
        listener = self._listener
        if listener is None:
            return
        for _ in range(_ACCEPT_BURST):
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause_accepting(exc)
                    return
                logger.warning("accept failed: %s", exc.strerror or exc)
                return
            if len(self._tasks) >= self._options.max_connections:
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = asyncio.ensure_future(self._serve(sock, peer[0]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _pause_accepting(self, error: OSError) -> None:
        """Stop accepting for ``ACCEPT_PAUSE`` seconds: the system has no descriptor or memory.

        The pending connection stays in the listen queue and keeps the
        listener readable, so accepting again at once would spin the event
        loop (and log) until a descriptor frees up; established connections
        keep being served meanwhile. One warning per pause.
        """
        listener = self._listener
        if listener is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(listener.fileno())
        loop.call_later(ACCEPT_PAUSE, self._resume_accepting, listener)
        logger.warning(
            "accept failed: %s; not accepting for %g s (%d connections being served)",
            error.strerror or error,
            ACCEPT_PAUSE,
            len(self._tasks),
        )

    def _resume_accepting(self, listener: socket.socket) -> None:
        if self._listener is listener:
            asyncio.get_running_loop().add_reader(listener.fileno(), self._on_acceptable)

    async def _serve(self, sock: socket.socket, client: str) -> None:
        conn = ServerConnection()
        session: Session | None = None
        try:
            user = await self._handshake(conn, sock)
            request = await self._receive(conn, sock, Request)
            session = self._open_session(client, user)
            if session is None:
                await _send(sock, conn.reply(Reply.GENERAL_FAILURE))
                return
            await self._dispatch(conn, sock, session, request)
        except ProtocolError as exc:
            _send_now(sock, exc.data_to_send)
        except (_Refused, _Gone, TimeoutError, OSError):
            pass
        except Exception as exc:  # a bug must not take the server down or leak a traceback
            logger.error("connection from %s ended by an internal error: %r", client, exc)
        finally:
            sock.close()
            if session is not None:
                self._close_session(session)

    async def _handshake(self, conn: ServerConnection, sock: socket.socket) -> str | None:
        """Greeting, method choice and RFC 1929; the user name, or None without authentication."""
        greeting = await self._receive(conn, sock, Greeting)
        password = self._engine.rules.service.authentication is AuthMode.PASSWORD
        method = AuthMethod.USERNAME_PASSWORD if password else AuthMethod.NO_AUTH
        if method not in greeting.methods:
            await _send(sock, conn.choose_method(AuthMethod.NO_ACCEPTABLE))
            raise _Refused
        await _send(sock, conn.choose_method(method))
        if not password:
            return None
        credentials = await self._receive(conn, sock, Credentials)
        ok = await self._verify(credentials)
        await _send(sock, conn.auth_result(ok))
        if not ok:
            raise _Refused
        return credentials.username

    async def _verify(self, credentials: Credentials) -> bool:
        """Check a password against the rule file's scrypt hash, off the event loop.

        An unknown user or one without a password is checked against a dummy
        hash, so the answer takes as long as for a known user.
        """
        user = self._engine.rules.user(credentials.username)
        encoded = user.password if user is not None else None
        try:
            password = credentials.password_bytes.decode("utf-8")
        except UnicodeDecodeError:
            password, encoded = "", None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _check_password, password, encoded)

    async def _receive(self, conn: ServerConnection, sock: socket.socket, kind: type[_E]) -> _E:
        """The client's next handshake message, within the phase time-out."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._options.phase_timeout):
            while True:
                event = conn.next_event()
                if event is not NEED_DATA:
                    if not isinstance(event, kind):
                        raise TypeError(f"expected {kind.__name__}, got {event!r}")
                    return event
                data = await loop.sock_recv(sock, _READ_SIZE)
                if not data:
                    raise _Gone
                conn.receive_data(data)

    async def _dispatch(
        self, conn: ServerConnection, sock: socket.socket, session: Session, request: Request
    ) -> None:
        if request.command is Command.CONNECT:
            timeout = self._options.connect_timeout
            await serve_connect(
                self._engine, conn, sock, session, request.address, self._external, timeout, self
            )
        elif request.command is Command.BIND:
            await serve_bind(self._engine, conn, sock, session, self._external, self)
        else:
            await serve_udp_associate(
                self._engine, conn, sock, session, request.address, self._external, self
            )

    def _open_session(self, client: str, user: str | None) -> Session | None:
        """The identity's session, counting this connection; None past ``max_sessions``."""
        key = (client, user)
        session = self._identities.get(key)
        if session is None or session.terminated:
            if len(self._counts) >= self._options.max_sessions:
                return None
            session = self._engine.session(client, user, authenticated=user is not None)
            self._identities[key] = session
        self._counts[session.id] = self._counts.get(session.id, 0) + 1
        return session

    def _close_session(self, session: Session) -> None:
        """Uncount a connection; the identity's last one ends the session (§14.2)."""
        count = self._counts.pop(session.id) - 1
        if count:
            self._counts[session.id] = count
            return
        key = (session.client, session.user)
        if self._identities.get(key) is session:
            del self._identities[key]
        self._engine.end_session(session)


def _check_password(password: str, encoded: str | None) -> bool:
    """``verify_password``, or the same work against a dummy hash when there is no hash."""
    if encoded is None:
        verify_password(password, _dummy_hash())
        return False
    return verify_password(password, encoded)


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches in practice, checked for unknown users (equal timing)."""
    return hash_password(secrets.token_hex(32))


async def _send(sock: socket.socket, data: bytes) -> None:
    """Write a handshake answer."""
    await asyncio.get_running_loop().sock_sendall(sock, data)


def _send_now(sock: socket.socket, data: bytes) -> None:
    """Best-effort write of a final answer before a close (never waits)."""
    if data:
        with contextlib.suppress(OSError):
            sock.send(data)
