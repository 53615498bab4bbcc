"""The firewall service: rules loaded, the engine built, the SOCKS5 server running, time ticking.

:class:`Service` is what ``fwx serve`` runs and what tests and the console
embed: construct it (the rule file is loaded and checked at once), ``await
start()``, read ``address`` and ``engine``, ``await stop()``. ``reload()``
swaps in a freshly loaded rule file, or changes nothing and raises.

Security defaults: the listener is refused on any non-loopback address
unless the rules require passwords (``authentication = "password"``), and a
reload that would drop that requirement on such a listener is refused too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from engine.admin.operations import Operations
from engine.admin.server import AdminServer
from engine.audit import AuditLog, AuditOptions
from engine.core import BindState, Endpoint, Engine, HResult, RulesChange
from engine.filters.registry import require_filters
from engine.socks.server import ServerOptions, SocksServer
from rules.errors import Problem, RuleFileError
from rules.loader import load
from rules.model import AuthMode, RuleSet

__all__ = ["Service", "ServiceError", "endpoint_text", "parse_address", "parse_endpoint"]

logger = logging.getLogger("fwx.service")

_TERMINATE_WAIT = 5.0
"""Seconds ``terminate`` waits for a bind's connection to close its sockets."""


class ServiceError(Exception):
    """The service cannot run as configured; the message is one line for the operator."""


def parse_endpoint(text: str) -> Endpoint:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6; ``localhost`` is 127.0.0.1) as an endpoint.

    Raises ``ValueError`` with a one-line message for anything else.
    """
    host, colon, port_text = text.strip().rpartition(":")
    if not colon or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:1080)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:1080")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        return parse_address(host), int(port_text)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None


def parse_address(text: str) -> str:
    """An IP address in canonical text; ``ValueError`` with a one-line message otherwise."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def _exposure_problem(host: str, ruleset: RuleSet) -> str | None:
    """Why listening on ``host`` with these rules is refused, or None when it is safe."""
    if ipaddress.ip_address(host).is_loopback:
        return None
    if ruleset.service.authentication is AuthMode.PASSWORD:
        return None
    return (
        f"refusing to listen on {host}, which is not a loopback address, without "
        'authentication = "password" in [service]'
    )


class Service:
    """One running fwx firewall: the engine and the SOCKS5 server around it."""

    def __init__(
        self,
        rules_path: str | os.PathLike[str],
        *,
        listen: str | None = None,
        external: str | None = None,
        options: ServerOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 1.0,
        admin_socket: Path | None = None,
        admin_uids: Iterable[int] = (),
        audit: AuditOptions | None = None,
    ) -> None:
        """Load and check the rules; ``listen``/``external`` override the rule file's.

        ``admin_socket`` is where operators reach the service (None: nowhere;
        root, this process's user and ``admin_uids`` may use it); ``audit``
        where its history is kept (None: not kept). Raises ``RuleFileError``
        for a bad rule file (one naming a filter that is not available
        included) and ``ServiceError`` for a bad or unsafe listen/external
        address. Nothing listens until ``start``.
        """
        self._path = Path(rules_path)
        ruleset = load(self._path)
        require_filters(ruleset, self._path)
        try:
            self._listen = parse_endpoint(listen or ruleset.service.listen)
            self.external = parse_address(external or ruleset.service.external)
        except ValueError as exc:
            raise ServiceError(str(exc)) from None
        problem = _exposure_problem(self._listen[0], ruleset)
        if problem is not None:
            raise ServiceError(problem)
        self.engine = Engine(ruleset, clock=clock)
        self._server = SocksServer(
            self.engine, external=self.external, options=options or ServerOptions()
        )
        self._tick_interval = tick_interval
        self._ticker: asyncio.Task[None] | None = None
        self.audit = None if audit is None else AuditLog(self.engine, audit, clock=clock)
        self.admin_socket = admin_socket
        self.operations = Operations(self, clock=clock, auditor=self.audit)
        self._admin = (
            None
            if admin_socket is None
            else AdminServer(self.operations, admin_socket, allowed_uids=admin_uids)
        )

    @property
    def rules_path(self) -> Path:
        """The rule file the service enforces (and reloads)."""
        return self._path

    @property
    def listen(self) -> Endpoint:
        """The (host, port) the service is configured to listen on (port 0: any)."""
        return self._listen

    @property
    def address(self) -> Endpoint:
        """The (host, port) the SOCKS5 server listens on; valid once started."""
        return self._server.address

    @property
    def connections(self) -> int:
        """Client connections being served now."""
        return self._server.connections

    async def start(self) -> None:
        """Open the audit log, listen, open the admin socket, start the clock.

        Raises ``AuditError`` (the audit file cannot be used), ``OSError``
        (the address cannot be bound) or ``AdminSocketError`` (the socket path
        cannot be used); whatever was started before is stopped again.
        """
        if self.audit is not None:
            await self.audit.start()
        try:
            await self._server.start(*self._listen)
            if self._admin is not None:
                await self._admin.start()
        except BaseException:
            await self._server.stop()
            if self.audit is not None:
                await self.audit.stop()
            raise
        self._ticker = asyncio.ensure_future(self._tick_forever())
        mode = self.engine.rules.service.authentication.value
        logger.info(
            "listening on %s (external address %s, authentication %s)",
            endpoint_text(self.address),
            self.external,
            mode,
        )

    async def stop(self) -> None:
        """Stop listening, end every connection, bind and relay, stop the clock, flush the log.

        The admin socket closes first (no request lands on a half-stopped
        service) and the audit log last, so it holds every bind's end.
        """
        if self._admin is not None:
            await self._admin.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._server.stop()
        if self.audit is not None:
            await self.audit.stop()

    async def terminate(self, bind_id: int) -> HResult:
        """End a bind now (the operator's terminate): its sockets close, its opening goes.

        ``NOT_FOUND`` for no live bind with that id, ``FWX_E_TERMINATING`` when it
        was already ending; otherwise ``S_OK`` once its connection is closed.
        """
        bind = self.engine.get_bind(bind_id)
        if bind is None:
            return HResult.NOT_FOUND
        result = self.engine.terminate(bind)
        ended = self._server.reap()
        if ended:
            await asyncio.wait(ended, timeout=_TERMINATE_WAIT)
        if bind.state is BindState.TERMINATING:
            self.engine.close(bind)
        return result

    def reload(self) -> RulesChange:
        """Put the rule file's current contents in force and say what changed.

        Raises ``RuleFileError`` and changes nothing when the file is invalid,
        names a filter that is not available, or would drop password
        authentication on a non-loopback listener. ``listen`` and ``external``
        changes apply at the next start.
        """
        return self.engine.replace_rules(self.read_rules())

    async def reload_off_loop(self) -> RulesChange:
        """:meth:`reload`, reading and checking the file in a thread.

        A large rule file takes seconds to parse; relays keep flowing
        meanwhile, and only the swap itself runs on the event loop.
        """
        ruleset = await asyncio.to_thread(self.read_rules)
        return self.engine.replace_rules(ruleset)

    def read_rules(self) -> RuleSet:
        """The rule file's current contents, checked as :meth:`reload` needs; nothing applied."""
        ruleset = load(self._path)
        require_filters(ruleset, self._path)
        problem = _exposure_problem(self._listen[0], ruleset)
        if problem is not None:
            raise RuleFileError([Problem(str(self._path), None, None, "service", problem)])
        return ruleset

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)
            try:
                self.engine.tick()
                self._server.reap()
            except Exception as exc:  # the clock must keep running whatever one tick hits
                logger.error("periodic engine work failed: %r", exc)


def endpoint_text(endpoint: Endpoint) -> str:
    """``host:port``, with brackets around an IPv6 host."""
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
