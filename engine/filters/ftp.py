"""The FTP filter: approves data connections from what the client and server tell each other.

It watches FTP control connections (reference §12.1, R92-R94) and acts
through its session only:

* ``PORT``/``EPRT`` from the client (active mode), for the address ``A:P`` it
  names. A privileged port (below 1024) or an unspecified address is
  refused at once (FTP bounce, RFC 2577). Otherwise
  ``retroactive_allow_bind(TCP, A:P, protocol, 0, {server IP})`` is called,
  once per command (R92): ``S_OK``/``S_FALSE`` mean ``A:P`` is this session's
  bind (a SOCKS client that did ``BIND``) and the command passes unchanged.
  ``NOT_FOUND`` with ``A`` the client's own address means the client will
  listen itself: ``bind_for_client`` opens a listener on the external address
  that forwards to ``A:P``, and the command is rewritten to name it (R93).
  Any other address is a third party's (FTP bounce), and any other result a
  refusal: the command does not reach the server, the client gets a ``504``
  reply, and a log line says why. Either way the bind admits the FTP
  server's IP only (R94).
* ``227``/``229`` from the server, answering the client's ``PASV``/``EPSV``
  (passive mode): ``allow_future_connect`` for the server's IP and the port
  named, one use, lapsing after a minute (R46, R47). A ``227`` naming some
  other IP is honoured for the server's IP only (the client is expected to
  connect to the server it talks to, as ftplib and curl do by default).
* After ``AUTH`` is accepted (``234``) the channel is TLS: nothing more can
  be read, so everything passes untouched.

Malformed and unknown commands and replies pass through unchanged: the
filter never breaks a session it does not understand.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import deque
from typing import Final

from engine.core import Endpoint, FutureFlags, HResult, IpFilter, Transport
from engine.filters.base import FilterSession, Output
from engine.filters.ftp_codec import (
    format_eprt,
    format_port,
    line_ending,
    parse_227,
    parse_229,
    parse_command,
    parse_eprt,
    parse_port,
    parse_reply,
)
from engine.filters.lines import LineFilter
from rules.addresses import address_key

__all__ = ["FIRST_UNPRIVILEGED_PORT", "FtpFilter"]

logger = logging.getLogger("fwx.filters.ftp")

FIRST_UNPRIVILEGED_PORT: Final = 1024
"""Data connections to ports below this are refused (RFC 2577 §3: the FTP bounce)."""

_OUTSTANDING: Final = 64
"""Commands remembered while their replies are awaited (pipelining is rarely deeper)."""

_APPROVED: Final = (HResult.S_OK, HResult.S_FALSE)


class FtpFilter(LineFilter):
    """Active and passive FTP through the firewall, one control connection per instance."""

    name = "ftp"

    def __init__(self, session: FilterSession) -> None:
        """A filter for one FTP control connection of ``session``."""
        super().__init__(session)
        self._awaiting: deque[str] = deque(maxlen=_OUTSTANDING)
        self._greeted = False
        self._multiline: int | None = None
        self._opaque = False

    # -- client -> server ---------------------------------------------------------

    def client_line(self, line: bytes) -> Output:
        """Watch ``PORT``/``EPRT``; remember every command forwarded, to match its reply."""
        if self._opaque:
            return Output(to_server=line)
        command = parse_command(line)
        if command is None:
            return Output(to_server=line)
        address: Endpoint | None = None
        if command.verb == "PORT":
            address = parse_port(command.argument)
        elif command.verb == "EPRT":
            address = parse_eprt(command.argument)
        if address is None:
            self._awaiting.append(command.verb)
            return Output(to_server=line)
        return self._active(command.verb, address, line)

    def _active(self, verb: str, address: Endpoint, line: bytes) -> Output:
        """An active-mode command naming ``address``: pass it, rewrite it, or refuse it."""
        if address[1] < FIRST_UNPRIVILEGED_PORT:
            return self._refuse(verb, address, "a privileged port (FTP bounce)")
        if ipaddress.ip_address(address[0]).is_unspecified:
            return self._refuse(verb, address, "an unspecified address")
        session = self.session
        server_only = IpFilter.from_specs([session.server[0]])
        result = session.retroactive_allow_bind(
            Transport.TCP, address, session.protocol, 0, server_only
        )
        if result in _APPROVED:
            self._awaiting.append(verb)
            return Output(to_server=line)
        if result is not HResult.NOT_FOUND:
            return self._refuse(verb, address, f"retroactive_allow_bind gave {result.name}")
        if address_key(address[0]) != address_key(session.client[0]):
            return self._refuse(verb, address, "a third party's address (FTP bounce)")
        result, bound = session.bind_for_client(address, session.protocol, server_only)
        if bound is None:
            return self._refuse(verb, address, f"bind_for_client gave {result.name}")
        rewritten = format_port(bound) if verb == "PORT" and ":" not in bound[0] else None
        self._awaiting.append(verb if rewritten is not None else "EPRT")
        return Output(to_server=(rewritten or format_eprt(bound)) + line_ending(line))

    def _refuse(self, verb: str, address: Endpoint, why: str) -> Output:
        """Keep the command from the server and answer the client with a 504 (RFC 2577)."""
        host, port = address
        logger.warning(
            "refused %s to %s:%d from client %s (server %s): %s",
            verb,
            host,
            port,
            self.session.client[0],
            self.session.server[0],
            why,
        )
        reply = f"504 {verb} refused by the firewall: {why}.\r\n"
        return Output(to_client=reply.encode("ascii"))

    # -- server -> client ---------------------------------------------------------

    def server_line(self, line: bytes) -> Output:
        """Match each complete reply to its command; grant passive data connections."""
        if not self._opaque:
            self._reply_line(line)
        return Output(to_client=line)

    def _reply_line(self, line: bytes) -> None:
        reply = parse_reply(line)
        if self._multiline is not None:
            if reply is None or reply.code != self._multiline or not reply.final:
                return
            self._multiline = None
        elif reply is None:
            return
        elif not reply.final:
            self._multiline = reply.code
            return
        if reply.code < 200:
            return
        if not self._greeted:
            self._greeted = True
            return
        verb = self._awaiting.popleft() if self._awaiting else None
        if verb == "PASV" and reply.code == 227:
            named = parse_227(reply.text)
            if named is not None:
                self._passive(named[1], named[0])
        elif verb == "EPSV" and reply.code == 229:
            port = parse_229(reply.text)
            if port is not None:
                self._passive(port, None)
        elif verb == "AUTH" and reply.code == 234:
            self._opaque = True

    def _passive(self, port: int, named_host: str | None) -> None:
        """Let the client connect once to the server's IP at ``port`` (R46, R47)."""
        server = self.session.server[0]
        if named_host is not None and address_key(named_host) != address_key(server):
            logger.info("227 named %s; granting the server's own address %s", named_host, server)
        result = self.session.allow_future_connect(
            (server, port), self.session.protocol, FutureFlags.TIMEOUT
        )
        if result is not HResult.S_OK:
            logger.warning(
                "passive data connection to %s:%d not granted: %s", server, port, result.name
            )
