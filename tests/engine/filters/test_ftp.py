"""The FTP filter's decisions, sans-I/O: a real engine, a fake listener, bytes in and out.

R92: PORT/EPRT naming the session's bind -> retroactive_allow_bind with the
server's IP only, command unchanged. R93: the client's own address ->
bind_for_client and a rewritten command. R94: only the server may connect.
R46/R47: 227/229 -> allow_future_connect, one use, with a time-out.
§12.1 step 4 and RFC 2577: bounces are refused with a 504.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import Bind, BindState, Event, EventKind, FutureFlags, HResult, Transport
from engine.core.verdicts import FUTURE_CONNECT, IP_FILTER
from engine.filters.base import Output
from engine.filters.ftp import FtpFilter
from engine.filters.ftp_codec import format_port
from tests.engine.filters.conftest import (
    ALLOW_ALL,
    CLIENT,
    EXTERNAL,
    SERVER,
    STRANGER,
    Setup,
    make_setup,
)

GREETING = b"220 Service ready\r\n"


def client_bind(setup: Setup) -> Bind:
    """A pending bind of the client's own (a SOCKS BIND), on the external address."""
    result, bind = setup.engine.bind(setup.session, Transport.TCP, (EXTERNAL, 0))
    assert result is HResult.S_OK
    assert bind is not None
    assert bind.state is BindState.PENDING
    return bind


def port_line(address: tuple[str, int]) -> bytes:
    return format_port(address) + b"\r\n"


def greeted(setup: Setup) -> FtpFilter:
    watcher = FtpFilter(setup.filter_session)
    assert watcher.server_data(GREETING) == Output(to_client=GREETING)
    return watcher


def test_r92_port_naming_the_sessions_bind_allows_it_for_the_server_only(setup: Setup) -> None:
    bind = client_bind(setup)
    line = port_line(bind.address)
    assert greeted(setup).client_data(line) == Output(to_server=line)
    assert bind.state is BindState.ALLOWED
    assert bind.allowed_by == "filter:ftp"
    assert bind.protocol == setup.filter_session.protocol
    assert setup.binder.calls == []
    # R94: from now on only the FTP server's IP gets in.
    assert setup.engine.inbound(Transport.TCP, bind.address, (STRANGER, 20)).reason == IP_FILTER
    assert setup.engine.inbound(Transport.TCP, bind.address, (SERVER, 20)).accepted


def test_r92_eprt_naming_the_sessions_bind_allows_it_too(setup: Setup) -> None:
    bind = client_bind(setup)
    line = f"EPRT |1|{bind.address[0]}|{bind.address[1]}|\n".encode()
    assert greeted(setup).client_data(line) == Output(to_server=line)
    assert bind.state is BindState.ALLOWED


def test_r92_one_call_per_port_command_and_a_repeat_passes_as_already_allowed(
    setup: Setup,
) -> None:
    """R92: one RetroactiveAllowBind per PORT; the second gets S_FALSE (R24) and passes."""
    bind = client_bind(setup)
    events = setup.engine.subscribe()
    watcher = greeted(setup)
    line = port_line(bind.address)
    assert watcher.client_data(line + line) == Output(to_server=line + line)
    kinds = [event.kind for event in events.drain() if isinstance(event, Event)]
    assert kinds.count(EventKind.BIND_ALLOWED) == 1


def test_r93_the_clients_own_address_gets_a_forwarding_bind_and_a_rewritten_port(
    setup: Setup,
) -> None:
    events = setup.engine.subscribe()
    output = greeted(setup).client_data(port_line((CLIENT, 50000)))
    ((client_address, ip_filter, actor),) = setup.binder.calls
    assert (client_address, actor) == ((CLIENT, 50000), "filter:ftp")
    assert ip_filter is not None
    assert ip_filter.specs() == [SERVER]
    (bind,) = setup.engine.binds()
    assert bind.state is BindState.ALLOWED
    assert bind.client_addresses == ((CLIENT, 50000),)
    assert output == Output(to_server=port_line(bind.address))
    drained = [event for event in events.drain() if isinstance(event, Event)]
    refused = [event for event in drained if event.kind is EventKind.ALLOW_REFUSED]
    assert [e.detail["result"] for e in refused] == ["NOT_FOUND"]  # RetroactiveAllowBind first


def test_r93_eprt_is_rewritten_as_eprt_keeping_the_line_ending(setup: Setup) -> None:
    output = greeted(setup).client_data(f"EPRT |1|{CLIENT}|50000|\n".encode())
    (bind,) = setup.engine.binds()
    assert output == Output(to_server=f"EPRT |1|{EXTERNAL}|{bind.address[1]}|\n".encode())


def test_r93_port_becomes_eprt_when_the_external_address_is_ipv6() -> None:
    setup = make_setup(ALLOW_ALL, external="2001:db8::1")
    output = greeted(setup).client_data(port_line((CLIENT, 50000)))
    (bind,) = setup.engine.binds()
    assert output == Output(to_server=f"EPRT |2|2001:db8::1|{bind.address[1]}|\r\n".encode())


def test_r93_an_ipv6_client_sending_its_own_address_is_served_too() -> None:
    setup = make_setup(ALLOW_ALL, client="2001:db8::5")
    output = greeted(setup).client_data(b"EPRT |2|2001:db8::5|50000|\r\n")
    (bind,) = setup.engine.binds()
    assert bind.client_addresses == (("2001:db8::5", 50000),)
    assert output.to_server == f"EPRT |1|{EXTERNAL}|{bind.address[1]}|\r\n".encode()


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"PORT 192,0,2,99,195,80\r\n", "a third party's address (FTP bounce)"),
        (b"EPRT |1|192.0.2.99|50000|\r\n", "a third party's address (FTP bounce)"),
        (b"PORT 10,0,0,5,0,25\r\n", "a privileged port (FTP bounce)"),
        (b"PORT 0,0,0,0,195,80\r\n", "an unspecified address"),
    ],
)
def test_a_bounce_is_refused_with_a_504_and_opens_nothing(
    setup: Setup, caplog: pytest.LogCaptureFixture, line: bytes, why: str
) -> None:
    """§12.1 step 4, RFC 2577: the command never reaches the server; the client gets a 504."""
    client_bind(setup)
    caplog.set_level(logging.WARNING, logger="fwx.filters.ftp")
    output = greeted(setup).client_data(line)
    verb = line.split()[0].decode()
    assert output == Output(to_client=f"504 {verb} refused by the firewall: {why}.\r\n".encode())
    assert [bind.state for bind in setup.engine.binds()] == [BindState.PENDING]
    assert setup.engine.openings() == []
    assert setup.binder.calls == []
    assert why in caplog.text


def test_r25_a_port_the_rules_do_not_allow_is_refused_and_the_bind_stays_pending() -> None:
    setup = make_setup()
    bind = client_bind(setup)
    output = greeted(setup).client_data(port_line(bind.address))
    assert output.to_server == b""
    assert output.to_client.startswith(b"504 PORT refused by the firewall: retroactive_allow_bind")
    assert bind.state is BindState.PENDING


def test_r44_bind_for_client_refused_by_the_rules_refuses_the_port() -> None:
    setup = make_setup()
    output = greeted(setup).client_data(port_line((CLIENT, 50000)))
    assert b"bind_for_client gave FWX_E_PROTOCOL_RULES_DENIED" in output.to_client
    assert setup.engine.binds() == []


@pytest.mark.parametrize(
    "line",
    [b"PORT 1,2,3\r\n", b"EPRT |9|x|y|\r\n", b"XYZZY plugh\r\n", b"\x00\xff\xfe\r\n", b"PORT\r\n"],
)
def test_malformed_and_unknown_commands_pass_untouched(setup: Setup, line: bytes) -> None:
    assert greeted(setup).client_data(line) == Output(to_server=line)
    assert setup.engine.binds() == []


def passive(setup: Setup, command: bytes, reply: bytes) -> FtpFilter:
    watcher = greeted(setup)
    assert watcher.client_data(command) == Output(to_server=command)
    assert watcher.server_data(reply) == Output(to_client=reply)
    return watcher


def test_r46_r47_a_227_reply_to_pasv_allows_one_connection_with_a_time_out(
    setup: Setup,
) -> None:
    passive(setup, b"PASV\r\n", b"227 Entering Passive Mode (203,0,113,7,195,80).\r\n")
    (permission,) = setup.engine.future_connects()
    assert permission.destination == (SERVER, 50000)
    assert permission.flags == FutureFlags.TIMEOUT
    assert permission.actor == "filter:ftp"
    assert setup.engine.connect(setup.session, (SERVER, 50000)).reason == FUTURE_CONNECT
    assert not setup.engine.connect(setup.session, (SERVER, 50000)).accepted
    assert not setup.engine.connect(setup.session, (STRANGER, 50000)).accepted


def test_r47_an_unused_passive_permission_lapses(setup: Setup) -> None:
    passive(setup, b"PASV\r\n", b"227 Entering Passive Mode (203,0,113,7,195,80).\r\n")
    setup.clock.advance(61)
    setup.engine.tick()
    assert setup.engine.future_connects() == []
    assert not setup.engine.connect(setup.session, (SERVER, 50000)).accepted


def test_r46_a_229_reply_to_epsv_allows_the_servers_address(setup: Setup) -> None:
    passive(setup, b"EPSV\r\n", b"229 Entering Extended Passive Mode (|||50000|)\r\n")
    (permission,) = setup.engine.future_connects()
    assert permission.destination == (SERVER, 50000)


def test_a_227_naming_another_host_allows_the_servers_own_address_only(setup: Setup) -> None:
    passive(setup, b"PASV\r\n", b"227 Entering Passive Mode (192,0,2,99,195,80).\r\n")
    assert [p.destination for p in setup.engine.future_connects()] == [(SERVER, 50000)]


@pytest.mark.parametrize(
    "reply", [b"227 (203,0,113,7,195,80)\r\n", b"229 (|||50000|)\r\n"], ids=["227", "229"]
)
def test_a_passive_reply_nobody_asked_for_allows_nothing(setup: Setup, reply: bytes) -> None:
    passive(setup, b"NOOP\r\n", reply)
    assert setup.engine.future_connects() == []


def test_pipelined_commands_are_matched_to_their_replies(setup: Setup) -> None:
    watcher = greeted(setup)
    watcher.client_data(b"TYPE I\r\nPASV\r\n")
    watcher.server_data(b"200 Type set\r\n227 Entering Passive Mode (203,0,113,7,195,80)\r\n")
    assert len(setup.engine.future_connects()) == 1


def test_a_multi_line_reply_counts_once_and_inner_lines_are_not_replies(setup: Setup) -> None:
    watcher = greeted(setup)
    watcher.client_data(b"HELP\r\nPASV\r\n")
    watcher.server_data(b"214-Commands:\r\n227 is not a reply here\r\n214 End\r\n")
    assert setup.engine.future_connects() == []
    watcher.server_data(b"227 Entering Passive Mode (203,0,113,7,195,80)\r\n")
    assert len(setup.engine.future_connects()) == 1


def test_the_greeting_is_not_matched_to_a_command_sent_before_it(setup: Setup) -> None:
    watcher = FtpFilter(setup.filter_session)
    watcher.client_data(b"PASV\r\n")
    watcher.server_data(b"120 Wait\r\n220 Ready\r\n227 (203,0,113,7,195,80)\r\n")
    assert len(setup.engine.future_connects()) == 1


def test_after_auth_tls_is_accepted_nothing_is_interpreted(setup: Setup) -> None:
    watcher = greeted(setup)
    watcher.client_data(b"AUTH TLS\r\n")
    watcher.server_data(b"234 Proceed\r\n")
    line = port_line((CLIENT, 50000))
    assert watcher.client_data(line) == Output(to_server=line)
    assert setup.engine.binds() == []


def test_a_port_split_across_segments_is_handled_as_one_command(setup: Setup) -> None:
    bind = client_bind(setup)
    watcher = greeted(setup)
    line = port_line(bind.address)
    sent = b"".join(watcher.client_data(line[i : i + 1]).to_server for i in range(len(line)))
    assert sent == line
    assert bind.state is BindState.ALLOWED


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_fuzz_the_filter_never_breaks_and_server_bytes_pass_unchanged(
    setup: Setup, from_client: bytes, from_server: bytes
) -> None:
    """Whatever the bytes, no exception; replies always reach the client as they came."""
    watcher = FtpFilter(setup.filter_session)
    watcher.client_data(from_client)
    watcher.client_data(b"")
    out = watcher.server_data(from_server)
    end = watcher.server_data(b"")
    assert out.to_client + end.to_client == from_server
    assert out.to_server == end.to_server == b""


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([b"USER a", b"PASS b", b"LIST", b"RETR x", b"PASV", b"zz"])))
def test_fuzz_commands_other_than_port_and_eprt_pass_unchanged(
    setup: Setup, commands: list[bytes]
) -> None:
    stream = b"".join(command + b"\r\n" for command in commands)
    watcher = FtpFilter(setup.filter_session)
    assert watcher.client_data(stream).to_server == stream
