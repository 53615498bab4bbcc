"""A minimal asyncio SOCKS5 client for the demo traffic: CONNECT, BIND, UDP ASSOCIATE.

Only what the demo needs (no authentication, IP addresses only), built on
the codec's address packing so both sides spell addresses the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress

from engine.socks import AddressType, Command, Reply, SocksAddress

__all__ = ["SocksRefused", "open_socks", "read_reply", "request"]

_ADDRESS_LENGTH = {AddressType.IPV4: 4, AddressType.IPV6: 16}


class SocksRefused(Exception):
    """The server answered with a failure reply."""

    def __init__(self, reply: int) -> None:
        super().__init__(f"SOCKS reply 0x{reply:02x}")
        self.reply = reply


async def open_socks(
    proxy: tuple[str, int], source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``proxy`` from the address ``source`` and negotiate "no authentication"."""
    reader, writer = await asyncio.open_connection(*proxy, local_addr=(source, 0))
    writer.write(b"\x05\x01\x00")
    if await reader.readexactly(2) != b"\x05\x00":
        writer.close()
        raise SocksRefused(Reply.GENERAL_FAILURE)
    return reader, writer


async def read_reply(reader: asyncio.StreamReader) -> tuple[str, int]:
    """Read one reply; its address, or :class:`SocksRefused` for a failure code."""
    head = await reader.readexactly(4)
    if head[1] != Reply.SUCCEEDED:
        raise SocksRefused(head[1])
    size = _ADDRESS_LENGTH.get(AddressType(head[3]))
    if size is None:
        raise SocksRefused(Reply.ADDRESS_TYPE_NOT_SUPPORTED)
    raw = await reader.readexactly(size + 2)
    host = str(ipaddress.ip_address(raw[:size]))
    return host, int.from_bytes(raw[size:], "big")


async def request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    command: Command,
    address: tuple[str, int],
) -> tuple[str, int]:
    """Send a request and return the address of its (first) reply."""
    writer.write(bytes([5, command, 0]) + SocksAddress.from_ip(*address).pack())
    await writer.drain()
    return await read_reply(reader)
