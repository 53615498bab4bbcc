"""Protocol definitions from the operator's words: the register dialog's and the CLI's parser.

Both ``fwx protocols register`` and the console's register dialog take a
protocol as text fields (name, GUID, port, transport, direction, secondary
connections as ``TRANSPORT PORTS DIRECTION``); one parser turns them into a
:class:`~rules.model.ProtocolDefinition`, so both accept exactly the same
input. It needs no Textual, so the command line starts fast.
"""

from __future__ import annotations

import re
import uuid

from rules.model import (
    Direction,
    PrimaryConnection,
    ProtocolDefinition,
    SecondaryConnection,
    Transport,
)

__all__ = ["parse_definition"]

_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


def _transport(text: str) -> Transport:
    try:
        return Transport[text.strip().upper()]
    except KeyError:
        raise ValueError(f"{text!r} is not a transport (tcp or udp)") from None


def _direction(text: str) -> Direction:
    try:
        return Direction(text.strip().lower())
    except ValueError:
        choices = ", ".join(item.value for item in Direction)
        raise ValueError(f"{text!r} is not a direction ({choices})") from None


def _secondary(item: str) -> SecondaryConnection:
    words = item.split()
    if len(words) != 3:
        raise ValueError(f"{item!r}: write TRANSPORT PORTS DIRECTION, e.g. 'udp 5000-5010 receive'")
    match = _PORTS.match(words[1])
    if match is None:
        raise ValueError(f"{words[1]!r} is not a port or a range like 1024-65535")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    return SecondaryConnection(low, high, _transport(words[0]), _direction(words[2]))


def parse_definition(fields: dict[str, str]) -> ProtocolDefinition:
    """Build a definition from the dialog's text fields; ValueError says what does not parse."""
    try:
        guid = uuid.UUID(fields["guid"].strip().strip("{}"))
    except ValueError:
        raise ValueError(f"guid: {fields['guid']!r} is not a GUID") from None
    port_text = fields["port"].strip()
    if not port_text.isdigit():
        raise ValueError(f"primary port: {port_text!r} is not a number")
    transport = _transport(fields["transport"])
    primary = PrimaryConnection(int(port_text), transport, _direction(fields["direction"]))
    items = [part.strip() for part in re.split(r"[;\n]", fields["secondary"]) if part.strip()]
    secondary = tuple(_secondary(item) for item in items)
    return ProtocolDefinition(
        guid=guid,
        name=fields["name"].strip(),
        primary=primary,
        secondary=secondary,
        filter=fields["filter"].strip() or None,
        description=fields["description"].strip(),
    )
