"""The starter rule file that ``fwx rules init`` writes: a working file that teaches the schema.

It loads as it is (a test makes sure), so a new operator can start the
service at once and edit from there. The comments are for reading only: a
save through ``fwx rules passwd`` or the console drops them, which is why
every entity also has a ``description``.
"""

from __future__ import annotations

__all__ = ["STARTER_TEXT"]

STARTER_TEXT = """\
# fwx rule file. Check it with `fwx rules check PATH`, view it with `fwx rules show PATH`.
# Comments are lost when fwx saves this file; keep notes in `description` keys.
version = 1

[service]
listen = "127.0.0.1:1080"        # where the SOCKS5 service listens (IP:PORT, [IPv6]:PORT)
external = "127.0.0.1"           # the address binds are made on, as peers see it
packet_filtering = true          # open the dynamic packet filter for allowed binds only
pending_bind_timeout = 120       # seconds a bind may wait for approval before it is closed
max_binds_per_session = 64       # binds one client session may hold at once
authentication = "none"          # "none", or "password" (every user then needs a password)
# bind_ports = "40000-40999"     # external ports for binds (default: 49152-65535)
udp_peer_timeout = 60            # seconds a UDP peer stays known after the last datagram

# Protocol definitions: a GUID, one primary connection (port, transport, direction)
# and any number of secondary connections (port ranges). TCP directions are
# inbound and outbound; UDP directions are send, receive, send-receive, receive-send.
[[protocol]]
name = "FTP"
guid = "a5b2c3d4-0000-4000-8000-000000000021"
description = "File Transfer Protocol; the ftp filter approves active-mode data binds"
primary = { port = 21, transport = "tcp", direction = "outbound" }
secondary = [{ ports = "1024-65535", transport = "tcp", direction = "inbound" }]
filter = "ftp"

[[protocol]]
name = "DNS"
guid = "a5b2c3d4-0000-4000-8000-000000000053"
description = "Domain Name System queries"
primary = { port = 53, transport = "udp", direction = "send-receive" }

[[protocol]]
name = "HTTP"
guid = "a5b2c3d4-0000-4000-8000-000000000080"
primary = { port = 80, transport = "tcp", direction = "outbound" }

[[protocol]]
name = "HTTPS"
guid = "a5b2c3d4-0000-4000-8000-000000000443"
primary = { port = 443, transport = "tcp", direction = "outbound" }

# IP filter sets: named remote addresses (addresses, CIDR blocks, a-b ranges,
# IPv4 and IPv6), for restricting who may reach an allowed bind.
[[ip_filter]]
name = "documentation networks"
include = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]
exclude = ["203.0.113.1"]

# Client sets: the client addresses a rule can be limited to.
[[client_set]]
name = "lan"
addresses = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1"]

# Users: set a password with `fwx rules passwd PATH alice` (never write one here:
# only scrypt hashes are accepted). Groups are referred to as "@staff".
[[user]]
name = "alice"
groups = ["staff"]

# Protocol rules (ISA Server 2000): a use is allowed when some enabled allow rule
# applies and no enabled deny rule does; the order of rules does not matter.
# protocols: names or GUIDs, or ["any"] (with except_protocols = true: all but these);
# users: names, "@group", or ["any"]; clients: client sets, or ["any"].
[[rule]]
name = "lan may browse, transfer files and resolve names"
action = "allow"
protocols = ["FTP", "DNS", "HTTP", "HTTPS"]
users = ["any"]
clients = ["lan"]

# [[rule]]
# name = "no FTP for guests"
# action = "deny"
# protocols = ["FTP"]
# users = ["@guests"]
# enabled = false
"""
