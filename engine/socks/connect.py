"""SOCKS5 CONNECT: the engine decides, then the server dials out and relays.

The destination is resolved first (a domain name may give several
addresses, tried in order); each address is put to ``engine.connect`` and
only an accepted one is dialled. A refusal by the rules is reply ``0x02``;
errors while connecting are reported as they happen (``0x03`` network
unreachable, ``0x04`` host unreachable or time-out, ``0x05`` refused).

When the protocol whose primary connection the destination matched names an
application filter, the bytes go through that filter
(:mod:`engine.filters.stream`) instead of the plain relay.

Outgoing connections leave from the external address (unless it is a loopback
or INADDR_ANY address), bound with ``IP_BIND_ADDRESS_NO_PORT`` so the kernel
picks the source port at connect time and many short sessions do not exhaust
local ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from typing import Final

from engine.core import Endpoint, Engine, Session
from engine.filters.stream import Attachment, MissingFilter, attachment_for, run_filtered
from engine.relay import relay
from engine.socks.bind import BindTracker
from engine.socks.codec import ServerConnection
from engine.socks.messages import AddressType, Reply, SocksAddress

__all__ = ["reply_for", "serve_connect"]

logger = logging.getLogger("fwx.socks")

_IP_BIND_ADDRESS_NO_PORT: Final = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

_REPLIES: Final = {
    errno.ECONNREFUSED: Reply.CONNECTION_REFUSED,
    errno.ENETUNREACH: Reply.NETWORK_UNREACHABLE,
    errno.ENETDOWN: Reply.NETWORK_UNREACHABLE,
    errno.EHOSTUNREACH: Reply.HOST_UNREACHABLE,
    errno.EHOSTDOWN: Reply.HOST_UNREACHABLE,
    errno.ETIMEDOUT: Reply.HOST_UNREACHABLE,
}


def reply_for(error: OSError) -> Reply:
    """The SOCKS5 reply code for an error raised while connecting."""
    return _REPLIES.get(error.errno or 0, Reply.GENERAL_FAILURE)


async def serve_connect(
    engine: Engine,
    conn: ServerConnection,
    client: socket.socket,
    session: Session,
    destination: SocksAddress,
    external: str,
    timeout: float,
    tracker: BindTracker,
) -> None:
    """Answer a CONNECT request and, once connected, relay until both sides are done.

    ``tracker`` hears of the binds a filter makes for the client, so the
    engine ending one (operator, expiry) closes its listener at once.
    """
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            remote, code, attachment = await _open(engine, session, destination, external)
    except TimeoutError:
        remote, code, attachment = None, Reply.HOST_UNREACHABLE, None
    if remote is None:
        await loop.sock_sendall(client, conn.reply(code))
        return
    try:
        host, port = remote.getsockname()[:2]
        await loop.sock_sendall(client, conn.reply(code, SocksAddress.from_ip(host, port)))
        if attachment is None:
            await relay(client, remote, to_right=conn.trailing_data())
        else:
            early = conn.trailing_data()
            await run_filtered(
                engine, session, attachment, client, remote, external, early, tracker
            )
    finally:
        remote.close()


async def _open(
    engine: Engine, session: Session, destination: SocksAddress, external: str
) -> tuple[socket.socket | None, Reply, Attachment | None]:
    """A socket connected to the first address the engine accepts, and the filter it needs.

    Without a socket, the reply says why. A destination whose protocol names
    a filter that is not installed is refused like one the rules refuse
    (R71: a protocol whose filter is missing is unusable).
    """
    targets = await _resolve(destination)
    if not targets:
        return None, Reply.HOST_UNREACHABLE, None
    code = Reply.NOT_ALLOWED_BY_RULESET
    for target in targets:
        verdict = engine.connect(session, target)
        if not verdict.accepted:
            continue
        try:
            attachment = attachment_for(verdict)
        except MissingFilter as exc:
            logger.warning("CONNECT to %s refused: %s", target[0], exc)
            continue
        try:
            remote = await _dial(target, _source(external, target[0]))
        except OSError as exc:
            code = reply_for(exc)
            continue
        return remote, Reply.SUCCEEDED, attachment
    return None, code, None


async def _resolve(destination: SocksAddress) -> list[Endpoint]:
    """The addresses to try, in the resolver's order; none for a name that does not resolve."""
    if destination.type is not AddressType.DOMAIN:
        if destination.is_unspecified:
            return []
        return [(destination.host, destination.port)]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            destination.host, destination.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        return []
    targets: list[Endpoint] = []
    for *_, address in infos:
        target = (str(address[0]).partition("%")[0], int(address[1]))
        if target not in targets:
            targets.append(target)
    return targets


def _source(external: str, destination: str) -> str | None:
    """The source address for a connection to ``destination``: the external one when it matters.

    None (the kernel picks) when the external address is INADDR_ANY or a
    loopback address (the kernel picks loopback for loopback destinations,
    and a loopback source could not reach any other), or of another family.
    """
    if external in ("0.0.0.0", "::") or _is_loopback(external):
        return None
    if (":" in external) != (":" in destination):
        return None
    return external


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


async def _dial(target: Endpoint, source: str | None) -> socket.socket:
    """A non-blocking TCP connection to ``target``, from ``source`` when given."""
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
        await asyncio.get_running_loop().sock_connect(sock, target)
    except BaseException:
        sock.close()
        raise
    return sock
