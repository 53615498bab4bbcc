"""The rule model: what an operator writes in a rule file, as immutable values.

Every entity keeps the text the operator wrote (address specs, names) so a
save reproduces it, plus a ``description`` for notes, because TOML comments
do not survive a save. Parsing and validation live in :mod:`rules.loader`;
evaluation in :mod:`rules.policy`; these types only hold data.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

__all__ = [
    "Action",
    "AuthMode",
    "ClientSet",
    "Direction",
    "IpFilterSet",
    "PrimaryConnection",
    "ProtocolDefinition",
    "ProtocolRule",
    "RuleSet",
    "SecondaryConnection",
    "ServiceConfig",
    "Transport",
    "User",
    "format_guid",
]


class Transport(enum.IntEnum):
    """The low-level protocol of a connection or bind (``FWX_PROTOCOL_TCP/UDP``).

    The SDK's numeric values were never published; fwx uses the IP protocol
    numbers, which are stable and self-explanatory.
    """

    TCP = 6
    UDP = 17

    @property
    def label(self) -> str:
        """Lower-case name as written in rule files and traces (``tcp``)."""
        return self.name.lower()


class Direction(enum.Enum):
    """Direction of a protocol connection (reference R73).

    TCP connections are ``inbound`` or ``outbound`` (who opens the initial
    connection). UDP directions describe the flow: ``send`` and ``receive``
    only, ``send-receive`` (the client speaks first, e.g. DNS) and
    ``receive-send`` (the remote speaks first).
    """

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    SEND = "send"
    RECEIVE = "receive"
    SEND_RECEIVE = "send-receive"
    RECEIVE_SEND = "receive-send"

    @property
    def transports(self) -> frozenset[Transport]:
        """The transports this direction is valid for."""
        if self in (Direction.INBOUND, Direction.OUTBOUND):
            return frozenset({Transport.TCP})
        return frozenset({Transport.UDP})

    @property
    def accepts_inbound(self) -> bool:
        """True when the remote side opens the flow: what makes a bind recognisable (R74)."""
        return self in (Direction.INBOUND, Direction.RECEIVE, Direction.RECEIVE_SEND)


class Action(enum.Enum):
    """What a protocol rule does when it applies."""

    ALLOW = "allow"
    DENY = "deny"


class AuthMode(enum.Enum):
    """How the service identifies users: not at all, or RFC 1929 passwords."""

    NONE = "none"
    PASSWORD = "password"


def format_guid(guid: uuid.UUID) -> str:
    """The canonical spelling of a GUID: lower case, no braces."""
    return str(guid)


@dataclass(frozen=True, slots=True)
class PrimaryConnection:
    """The initial connection of a protocol: one port, transport and direction (R72)."""

    port: int
    transport: Transport
    direction: Direction


@dataclass(frozen=True, slots=True)
class SecondaryConnection:
    """Connections that follow the primary one: a port range (R72, R75)."""

    port_low: int
    port_high: int
    transport: Transport
    direction: Direction

    @property
    def ports_text(self) -> str:
        """The range as written in a rule file (``1024-65535`` or ``20``)."""
        if self.port_low == self.port_high:
            return str(self.port_low)
        return f"{self.port_low}-{self.port_high}"


@dataclass(frozen=True, slots=True)
class ProtocolDefinition:
    """A registered protocol, identified by its GUID (R70)."""

    guid: uuid.UUID
    name: str
    primary: PrimaryConnection
    secondary: tuple[SecondaryConnection, ...] = ()
    filter: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class IpFilterSet:
    """A named set of remote addresses, as ``include`` minus ``exclude`` specs.

    A spec is an address, a CIDR block or an ``a-b`` range, IPv4 or IPv6.
    """

    name: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class ClientSet:
    """A named set of client addresses that rules can be limited to (R80)."""

    name: str
    addresses: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class User:
    """A user: groups, and a salted scrypt password hash (never plaintext)."""

    name: str
    groups: tuple[str, ...] = ()
    password: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class ProtocolRule:
    """A protocol rule (ISA 2000): allow or deny protocols to users and clients.

    ``protocols``, ``users`` and ``clients`` hold the operator's spellings;
    the literal ``("any",)`` means every protocol, user or client.
    ``except_protocols`` makes the rule apply to every protocol *not* listed
    (ISA's "all IP traffic except selected", R82).
    """

    name: str
    action: Action
    protocols: tuple[str, ...] = ("any",)
    users: tuple[str, ...] = ("any",)
    clients: tuple[str, ...] = ("any",)
    enabled: bool = True
    except_protocols: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The ``[service]`` table: where the service listens and how it behaves."""

    listen: str = "127.0.0.1:1080"
    external: str = "127.0.0.1"
    packet_filtering: bool = True
    pending_bind_timeout: float = 120.0
    max_binds_per_session: int = 64
    authentication: AuthMode = AuthMode.NONE
    bind_ports: tuple[int, int] | None = None
    udp_peer_timeout: float = 60.0
    description: str = ""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A complete, validated rule file. Build one with :func:`rules.loader.load`."""

    service: ServiceConfig = field(default_factory=ServiceConfig)
    protocols: tuple[ProtocolDefinition, ...] = ()
    ip_filters: tuple[IpFilterSet, ...] = ()
    client_sets: tuple[ClientSet, ...] = ()
    users: tuple[User, ...] = ()
    rules: tuple[ProtocolRule, ...] = ()
    version: int = 1

    def protocol(self, name_or_guid: str) -> ProtocolDefinition | None:
        """The protocol named by ``name_or_guid`` (a name, or a GUID with or without braces)."""
        wanted = name_or_guid.strip()
        for proto in self.protocols:
            if proto.name == wanted:
                return proto
        try:
            guid = uuid.UUID(wanted.strip("{}"))
        except ValueError:
            return None
        for proto in self.protocols:
            if proto.guid == guid:
                return proto
        return None

    def ip_filter(self, name: str) -> IpFilterSet | None:
        """The named IP filter set, or None."""
        return next((f for f in self.ip_filters if f.name == name), None)

    def user(self, name: str) -> User | None:
        """The named user, or None."""
        return next((u for u in self.users if u.name == name), None)
