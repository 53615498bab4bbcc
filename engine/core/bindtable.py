"""Live binds of one transport, indexed by external address for the hot path.

A lookup tries the exact ``(ip, port)`` first, then the INADDR_ANY bind of
that port in the address's family: two dictionary lookups at most, with the
caller's own endpoint tuple as the key (nothing is built per packet).
Addresses are kept in canonical text (``rules.addresses.key_text``), which
is what the data plane reads back from its sockets.
"""

from __future__ import annotations

from typing import Final

from engine.core.binds import Bind, Endpoint

__all__ = ["ANY_V4", "ANY_V6", "DYNAMIC_PORTS", "BindTable", "is_any", "is_v6"]

ANY_V4: Final = "0.0.0.0"
ANY_V6: Final = "::"
DYNAMIC_PORTS: Final = (49152, 65535)
"""Where the engine picks a port for a bind asked for port 0, unless ``service.bind_ports`` says."""

_V6_PORTS: Final = 65536


def is_v6(ip: str) -> bool:
    """True for IPv6 address text (canonical IPv4-mapped addresses are IPv4 text)."""
    return ":" in ip


def is_any(ip: str) -> bool:
    """True for the INADDR_ANY addresses ``0.0.0.0`` and ``::``."""
    return ip in (ANY_V4, ANY_V6)


class BindTable:
    """The live binds of one transport by external address."""

    __slots__ = ("_cursor", "_exact_ports", "any4", "any6", "exact")

    def __init__(self) -> None:
        self.exact: dict[Endpoint, Bind] = {}
        """Binds on a concrete address, by ``(ip, port)``."""
        self.any4: dict[int, Bind] = {}
        """Binds on ``0.0.0.0``, by port."""
        self.any6: dict[int, Bind] = {}
        """Binds on ``::``, by port."""
        self._exact_ports: dict[int, int] = {}
        self._cursor = 0

    def find(self, local: Endpoint) -> Bind | None:
        """The live bind that receives traffic for ``local``, if any."""
        bind = self.exact.get(local)
        if bind is None:
            wildcard = self.any6 if ":" in local[0] else self.any4
            bind = wildcard.get(local[1])
        return bind

    def is_free(self, ip: str, port: int) -> bool:
        """True when no live bind holds ``ip:port`` or overlaps it (INADDR_ANY of its family)."""
        v6 = is_v6(ip)
        if port in (self.any6 if v6 else self.any4):
            return False
        if is_any(ip):
            return self._exact_ports.get(port + _V6_PORTS if v6 else port, 0) == 0
        return (ip, port) not in self.exact

    def free_port(self, ip: str, low: int, high: int) -> int | None:
        """A port in ``low..high`` free on ``ip``, taken round-robin; None when all are used."""
        size = high - low + 1
        for step in range(size):
            port = low + (self._cursor + step) % size
            if self.is_free(ip, port):
                self._cursor = (self._cursor + step + 1) % size
                return port
        return None

    def add(self, bind: Bind) -> None:
        """Index ``bind`` by its address (the caller checked :meth:`is_free`)."""
        ip, port = bind.address
        if is_any(ip):
            (self.any6 if is_v6(ip) else self.any4)[port] = bind
            return
        self.exact[bind.address] = bind
        slot = port + _V6_PORTS if is_v6(ip) else port
        self._exact_ports[slot] = self._exact_ports.get(slot, 0) + 1

    def remove(self, bind: Bind) -> None:
        """Forget ``bind``; its address is free again."""
        ip, port = bind.address
        if is_any(ip):
            table = self.any6 if is_v6(ip) else self.any4
            if table.get(port) is bind:
                del table[port]
            return
        if self.exact.get(bind.address) is not bind:
            return
        del self.exact[bind.address]
        slot = port + _V6_PORTS if is_v6(ip) else port
        left = self._exact_ports[slot] - 1
        if left:
            self._exact_ports[slot] = left
        else:
            del self._exact_ports[slot]

    def __len__(self) -> int:
        return len(self.exact) + len(self.any4) + len(self.any6)
