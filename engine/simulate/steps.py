"""The steps of a simulation trace, as immutable values.

A trace file is parsed and checked as a whole by :mod:`engine.simulate.trace`
before anything runs; what comes out is one frozen value per ``[[step]]``
whose fields already have the types the engine's methods take. Names given
with ``id`` stay names here: the runner maps them to the sessions and binds
the engine creates.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from engine.core.ipfilter import IpFilter
from rules.model import ProtocolDefinition, RuleSet, Transport

__all__ = [
    "AdvanceStep",
    "AllowFutureConnectStep",
    "BindForClientStep",
    "BindRef",
    "BindStep",
    "CloseStep",
    "ConnectStep",
    "DatagramInStep",
    "DatagramOutStep",
    "EndSessionStep",
    "Endpoint",
    "FilterSpec",
    "InboundStep",
    "OpeningsStep",
    "RegisterProtocolStep",
    "ReplaceRulesStep",
    "RetroactiveAllowStep",
    "SessionStep",
    "Step",
    "TerminateStep",
    "Trace",
    "UnregisterProtocolStep",
    "format_endpoint",
    "parse_endpoint",
    "parse_ip",
]

Endpoint = tuple[str, int]


def parse_ip(text: str) -> str:
    """The canonical text of an IPv4 or IPv6 address; ValueError when ``text`` is not one."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def parse_endpoint(text: str) -> Endpoint:
    """``"ip:port"`` or ``"[ipv6]:port"`` as an endpoint with canonical IP text.

    Raises ValueError with a one-line message when ``text`` is not an IP
    address and a port from 0 to 65535.
    """
    if text.startswith("["):
        host, bracket, port_text = text[1:].partition("]:")
        if not bracket:
            raise ValueError(f"{text!r} is not [IPv6]:port")
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise ValueError(f"{text!r} has no port (write IP:port)")
        if ":" in host:
            raise ValueError(f"{text!r}: write an IPv6 address in brackets, as [addr]:port")
    address = parse_ip(host)
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"port {port_text!r} is not a number from 0 to 65535")
    return address, int(port_text)


def format_endpoint(endpoint: Endpoint) -> str:
    """The endpoint as a trace writes it: ``ip:port``, IPv6 in brackets."""
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """An IP filter argument that is not NULL: include minus exclude specs.

    ``label`` says where it came from for people: ``empty``, ``inline`` or
    the name of an ``[[ip_filter]]`` set of the rules.
    """

    label: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def build(self) -> IpFilter:
        """A fresh engine filter with these addresses (the specs were checked at load time)."""
        return IpFilter.from_specs(self.include, self.exclude)


@dataclass(frozen=True, slots=True)
class BindRef:
    """How a step names a bind: by the ``id`` of the step that made it, or by its address."""

    name: str | None = None
    address: Endpoint | None = None
    transport: Transport | None = None

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        assert self.address is not None
        return format_endpoint(self.address)


@dataclass(frozen=True, slots=True)
class Step:
    """What every step has: its 1-based number in the trace."""

    op: ClassVar[str] = ""
    number: int


@dataclass(frozen=True, slots=True)
class SessionStep(Step):
    """Find or create the session of ``client`` (and ``user``), named ``name``."""

    op: ClassVar[str] = "session"
    name: str
    client: str
    user: str | None
    authenticated: bool
    private: bool


@dataclass(frozen=True, slots=True)
class BindStep(Step):
    """The client's own bind (SOCKS BIND / UDP ASSOCIATE); port 0 lets the engine pick."""

    op: ClassVar[str] = "bind"
    name: str | None
    session: str
    transport: Transport
    address: Endpoint


@dataclass(frozen=True, slots=True)
class RetroactiveAllowStep(Step):
    """``RetroactiveAllowBind`` with exactly its parameters; ``ip_filter`` None is NULL."""

    op: ClassVar[str] = "retroactive_allow_bind"
    session: str
    protocol: int
    protocol_text: str
    address: Endpoint
    address_length: int | None
    protocol_guid: uuid.UUID
    flags: int
    ip_filter: FilterSpec | None
    actor: str


@dataclass(frozen=True, slots=True)
class InboundStep(Step):
    """A connection attempt from ``remote`` to the external endpoint ``local``."""

    op: ClassVar[str] = "inbound"
    transport: Transport
    local: Endpoint
    remote: Endpoint


@dataclass(frozen=True, slots=True)
class DatagramInStep(Step):
    """A datagram from ``remote`` arriving at the external endpoint ``local``."""

    op: ClassVar[str] = "datagram_in"
    local: Endpoint
    remote: Endpoint


@dataclass(frozen=True, slots=True)
class DatagramOutStep(Step):
    """A datagram the bind at ``local`` sends to ``remote``."""

    op: ClassVar[str] = "datagram_out"
    local: Endpoint
    remote: Endpoint


@dataclass(frozen=True, slots=True)
class ConnectStep(Step):
    """An outbound primary connection of a session, judged by protocol rules."""

    op: ClassVar[str] = "connect"
    session: str
    destination: Endpoint
    transport: Transport


@dataclass(frozen=True, slots=True)
class BindForClientStep(Step):
    """``BindForClient``: a filter-side bind; ``proxy_address`` None = external IP, port 0."""

    op: ClassVar[str] = "bind_for_client"
    name: str | None
    session: str
    transport: Transport
    client_addresses: tuple[Endpoint, ...]
    proxy_address: Endpoint | None
    protocol_guid: uuid.UUID
    flags: int
    ip_filter: FilterSpec | None
    actor: str


@dataclass(frozen=True, slots=True)
class AllowFutureConnectStep(Step):
    """``AllowFutureConnect``: permission for a later outbound connection to ``address``."""

    op: ClassVar[str] = "allow_future_connect"
    session: str
    address: Endpoint
    transport: Transport
    protocol_guid: uuid.UUID
    flags: int
    actor: str


@dataclass(frozen=True, slots=True)
class RegisterProtocolStep(Step):
    """Register a protocol definition with the engine's registry."""

    op: ClassVar[str] = "register_protocol"
    definition: ProtocolDefinition


@dataclass(frozen=True, slots=True)
class UnregisterProtocolStep(Step):
    """Remove a protocol from the engine's registry."""

    op: ClassVar[str] = "unregister_protocol"
    protocol_guid: uuid.UUID


@dataclass(frozen=True, slots=True)
class TerminateStep(Step):
    """Start the end of a bind (TERMINATING)."""

    op: ClassVar[str] = "terminate"
    bind: BindRef


@dataclass(frozen=True, slots=True)
class CloseStep(Step):
    """Close a bind (CLOSED, gone from every index)."""

    op: ClassVar[str] = "close"
    bind: BindRef


@dataclass(frozen=True, slots=True)
class EndSessionStep(Step):
    """End a session: all its binds end with it."""

    op: ClassVar[str] = "end_session"
    session: str


@dataclass(frozen=True, slots=True)
class ReplaceRulesStep(Step):
    """Hot reload: ``rules`` was loaded and validated from ``path`` with the trace."""

    op: ClassVar[str] = "replace_rules"
    path: Path
    rules: RuleSet
    recheck: bool


@dataclass(frozen=True, slots=True)
class AdvanceStep(Step):
    """Move the manual clock forward, then let the engine do its time-based work."""

    op: ClassVar[str] = "advance"
    seconds: float


@dataclass(frozen=True, slots=True)
class OpeningsStep(Step):
    """Show the dynamic packet-filter openings at this point."""

    op: ClassVar[str] = "openings"


@dataclass(frozen=True, slots=True)
class Trace:
    """A loaded, checked trace: the file it came from and its steps in order."""

    path: str
    steps: tuple[Step, ...]
