"""The starter file of `fwx rules init` loads and holds the examples the issue asks for."""

from __future__ import annotations

from rules.addresses import address_key
from rules.loader import loads
from rules.model import Action, Direction, Transport
from rules.policy import Policy
from rules.starter import STARTER_TEXT


def test_the_starter_file_loads() -> None:
    ruleset = loads(STARTER_TEXT, "starter.toml")
    assert [proto.name for proto in ruleset.protocols] == ["FTP", "DNS", "HTTP", "HTTPS"]
    assert [user.name for user in ruleset.users] == ["alice"]
    assert [(rule.action, rule.enabled) for rule in ruleset.rules] == [(Action.ALLOW, True)]


def test_ftp_uses_the_ftp_filter_and_dns_is_udp_send_receive() -> None:
    """R72, R73: a primary connection per protocol, a secondary range for FTP data."""
    ruleset = loads(STARTER_TEXT)
    ftp, dns = ruleset.protocol("FTP"), ruleset.protocol("DNS")
    assert ftp is not None
    assert dns is not None
    assert ftp.filter == "ftp"
    assert ftp.secondary[0].direction is Direction.INBOUND
    assert (dns.primary.transport, dns.primary.direction) == (Transport.UDP, Direction.SEND_RECEIVE)


def test_the_starter_rule_allows_the_lan_and_nobody_else() -> None:
    ruleset = loads(STARTER_TEXT)
    policy = Policy.compile(ruleset)
    https = ruleset.protocol("HTTPS")
    assert https is not None
    assert policy.check(https.guid, None, address_key("127.0.0.1")).allowed
    assert not policy.check(https.guid, None, address_key("192.0.2.1")).allowed


def test_the_starter_file_explains_itself_in_comments() -> None:
    comments = [line for line in STARTER_TEXT.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 10
    assert any("fwx rules passwd" in line for line in comments)
