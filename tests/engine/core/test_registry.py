"""ProtocolRegistry: GUID identity (R70), primary-connection indexes (R11, R74), removal (R76)."""

from __future__ import annotations

from dataclasses import replace

from engine.core.registry import ProtocolRegistry, is_outbound
from engine.core.results import HResult
from rules.model import Direction

from .conftest import DNS, FILTER_ONLY, FTP, GAME, MEDIA, NTP, SYSLOG, TCP, UDP


def test_r70_a_second_registration_of_a_guid_fails_and_keeps_the_first() -> None:
    registry = ProtocolRegistry([FTP])
    impostor = replace(FTP, name="not FTP")
    assert registry.register(impostor) is HResult.ALREADY_EXISTS
    assert registry.register(FILTER_ONLY) is HResult.S_OK
    assert registry.register(replace(FILTER_ONLY, name="again")) is HResult.ALREADY_EXISTS
    assert HResult.ALREADY_EXISTS.value == 0x800700B7
    assert registry.get(FTP.guid) is FTP
    assert registry.get(FILTER_ONLY.guid) is FILTER_ONLY
    assert registry.all() == [FTP, FILTER_ONLY]


def test_r74_inbound_tcp_and_receive_udp_primaries_make_binds_recognisable() -> None:
    registry = ProtocolRegistry([FTP, GAME, DNS, SYSLOG, MEDIA, NTP])
    assert registry.inbound(TCP, 7777) == (GAME,)
    assert registry.inbound(UDP, 514) == (SYSLOG,)
    assert registry.inbound(UDP, 5004) == (MEDIA,)
    assert registry.inbound(TCP, 21) == ()
    assert registry.inbound(UDP, 53) == ()
    assert registry.inbound(UDP, 7777) == ()


def test_outbound_index_holds_the_primaries_the_client_opens() -> None:
    registry = ProtocolRegistry([FTP, GAME, DNS, SYSLOG, MEDIA, NTP])
    assert registry.outbound(TCP, 21) == (FTP,)
    assert registry.outbound(UDP, 53) == (DNS,)
    assert registry.outbound(UDP, 123) == (NTP,)
    assert registry.outbound(TCP, 7777) == ()
    assert [d for d in Direction if is_outbound(d)] == [
        Direction.OUTBOUND,
        Direction.SEND,
        Direction.SEND_RECEIVE,
    ]


def test_registered_protocols_are_indexed_too() -> None:
    registry = ProtocolRegistry()
    assert registry.outbound(TCP, 9000) == ()
    registry.register(FILTER_ONLY)
    assert registry.outbound(TCP, 9000) == (FILTER_ONLY,)


def test_r76_unregister_removes_a_protocol_once() -> None:
    registry = ProtocolRegistry([FTP])
    registry.register(FILTER_ONLY)
    assert registry.unregister(FILTER_ONLY.guid) is HResult.S_OK
    assert registry.unregister(FILTER_ONLY.guid) is HResult.NOT_FOUND
    assert registry.unregister(FTP.guid) is HResult.S_OK
    assert len(registry) == 0
    assert registry.get(FTP.guid) is None
    assert registry.get(None) is None


def test_a_reload_restores_rule_protocols_and_displaces_clashing_registrations() -> None:
    registry = ProtocolRegistry([FTP])
    registry.unregister(FTP.guid)
    registry.register(FILTER_ONLY)
    registry.register(GAME)
    displaced = registry.replace_rule_protocols([FTP, GAME])
    assert displaced == [GAME]
    assert registry.all() == [FTP, GAME, FILTER_ONLY]
    assert registry.is_registered(FILTER_ONLY.guid)
    assert not registry.is_registered(GAME.guid)
    assert GAME.guid in registry
