"""Replaying traces: one result per step, what the engine answered, JSON-able."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from engine import BindState, FutureFlags, HResult, VerdictAction
from engine.simulate import StepResult, Trace, run
from rules.model import RuleSet

LoadTrace = Callable[..., Trace]

ALICE = """\
[[step]]
op = "session"
id = "alice"
client = "10.0.0.5"
user = "alice"

"""
ANON = """\
[[step]]
op = "session"
id = "anon"
client = "10.0.0.6"

"""


def bind(name: str, address: str, session: str = "alice", transport: str = "tcp") -> str:
    return (
        f'[[step]]\nop = "bind"\nid = "{name}"\nsession = "{session}"\n'
        f'transport = "{transport}"\naddress = "{address}"\n\n'
    )


def allow(address: str, *extra: str, session: str = "alice", protocol: str = "tcp") -> str:
    lines = "".join(f"{line}\n" for line in extra)
    return (
        f'[[step]]\nop = "retroactive_allow_bind"\nsession = "{session}"\n'
        f'protocol = "{protocol}"\naddress = "{address}"\nprotocol_guid = "FTP"\n{lines}\n'
    )


def traffic(op: str, source: str, target: str) -> str:
    return f'[[step]]\nop = "{op}"\nfrom = "{source}"\nto = "{target}"\n\n'


def replay(load: LoadTrace, ruleset: RuleSet, text: str) -> list[StepResult]:
    return list(run(load(text), ruleset))


def test_one_result_per_step_numbered_from_one(load: LoadTrace, ruleset: RuleSet) -> None:
    results = replay(load, ruleset, ALICE + ANON)
    assert [(result.step, result.op) for result in results] == [(1, "session"), (2, "session")]


def test_sessions_are_found_or_created(load: LoadTrace, ruleset: RuleSet) -> None:
    """R3, R4: the same identity is the same session; flags follow R7."""
    again = ALICE.replace('id = "alice"', 'id = "again"')
    first, anon, second = replay(load, ruleset, ALICE + ANON + again)
    assert first.session == second.session == 1
    assert anon.session == 2
    assert first.data["flags"] == ["authenticated"]
    assert anon.data["flags"] == ["nat"]
    assert (first.session_name, second.session_name) == ("alice", "alice")


def test_r9_a_bind_is_pending_whatever_the_rules(load: LoadTrace, ruleset: RuleSet) -> None:
    result = replay(load, ruleset, ALICE + bind("b1", "198.51.100.1:40000"))[1]
    assert (result.result, result.state, result.bind, result.bind_name) == (
        HResult.S_OK,
        BindState.PENDING,
        1,
        "b1",
    )


def test_r11_a_bind_on_a_recognised_inbound_port_is_allowed_at_once(
    load: LoadTrace, ruleset: RuleSet
) -> None:
    result = replay(load, ruleset, ALICE + bind("game", "198.51.100.1:7777"))[1]
    assert result.state is BindState.ALLOWED
    assert 'allowed by "staff protocols"' in result.note


def test_port_0_lets_the_engine_pick_a_port(load: LoadTrace, ruleset: RuleSet) -> None:
    result = replay(load, ruleset, ALICE + bind("any", "198.51.100.1:0"))[1]
    assert result.result is HResult.S_OK
    address = str(result.data["address"])
    assert address.startswith("198.51.100.1:")
    assert not address.endswith(":0")


def test_r26_retroactive_allow_then_inbound(load: LoadTrace, ruleset: RuleSet) -> None:
    """R12 before, R26/R28 after: the IP filter decides who gets in."""
    text = (
        ALICE
        + bind("data", "198.51.100.1:40000")
        + traffic("inbound", "192.0.2.10:20", "198.51.100.1:40000")
        + allow("198.51.100.1:40000", 'ip_filter = "servers"')
        + traffic("inbound", "192.0.2.99:20", "198.51.100.1:40000")
        + traffic("inbound", "192.0.2.10:20", "198.51.100.1:40000")
        + traffic("inbound", "192.0.2.10:20", "198.51.100.1:40001")
    )
    results = replay(load, ruleset, text)
    verdicts = [(r.action, r.reason) for r in results if r.op == "inbound"]
    assert verdicts == [
        (VerdictAction.DISCARD, "pending"),
        (VerdictAction.DISCARD, "ip-filter"),
        (VerdictAction.ACCEPT, "allowed"),
        (VerdictAction.DISCARD, "no-bind"),
    ]
    allowed = results[3]
    assert (allowed.result, allowed.state, allowed.bind_name) == (
        HResult.S_OK,
        BindState.ALLOWED,
        "data",
    )
    assert allowed.note.endswith('allowed by "staff protocols"')


def test_refusals_carry_the_engines_reason(load: LoadTrace, ruleset: RuleSet) -> None:
    """R18, R21: NOT_FOUND and E_INVALIDARG, with why in the note."""
    text = ALICE + allow("198.51.100.1:0") + allow("198.51.100.1:40000")
    invalid, missing = replay(load, ruleset, text)[1:]
    assert invalid.result is HResult.E_INVALIDARG
    assert invalid.note.endswith("the port must not be 0")
    assert missing.result is HResult.NOT_FOUND
    assert missing.bind is None


def test_r25_policy_denied_leaves_the_bind_pending(load: LoadTrace, ruleset: RuleSet) -> None:
    text = ANON + bind("b1", "198.51.100.1:40000", session="anon")
    text += allow("198.51.100.1:40000", session="anon")
    result = replay(load, ruleset, text)[2]
    assert (result.result, result.state) == (HResult.FWX_E_PROTOCOL_RULES_DENIED, BindState.PENDING)
    assert result.note.endswith("no allow rule")


def test_datagrams_and_send_receive_responses(load: LoadTrace, ruleset: RuleSet) -> None:
    """A DNS reply is a response to what the bind sent; an unsolicited datagram is discarded."""
    text = (
        ANON
        + bind("u1", "198.51.100.1:50000", session="anon", transport="udp")
        + traffic("datagram_out", "198.51.100.1:50000", "192.0.2.53:53")
        + traffic("datagram_in", "192.0.2.53:53", "198.51.100.1:50000")
        + traffic("datagram_in", "203.0.113.5:53", "198.51.100.1:50000")
        + traffic("datagram_out", "198.51.100.1:50000", "192.0.2.53:23")
    )
    results = replay(load, ruleset, text)[2:]
    assert [(r.action, r.reason) for r in results] == [
        (VerdictAction.ACCEPT, "allowed"),
        (VerdictAction.ACCEPT, "response"),
        (VerdictAction.DISCARD, "pending"),
        (VerdictAction.DISCARD, "rules"),
    ]
    assert results[0].data == {
        "transport": "udp",
        "from": "198.51.100.1:50000",
        "to": "192.0.2.53:53",
    }


def test_r31_bidirectional_answers_recent_senders(load: LoadTrace, ruleset: RuleSet) -> None:
    text = (
        ALICE
        + bind("u1", "198.51.100.1:50000", transport="udp")
        + allow("198.51.100.1:50000", 'flags = ["bidirectional"]', protocol="udp")
        + traffic("datagram_in", "203.0.113.7:6000", "198.51.100.1:50000")
        + traffic("datagram_out", "198.51.100.1:50000", "203.0.113.7:6000")
    )
    answer = replay(load, ruleset, text)[-1]
    assert (answer.action, answer.reason) == (VerdictAction.ACCEPT, "bidirectional")


def test_connect_by_protocol_rules(load: LoadTrace, ruleset: RuleSet) -> None:
    text = (
        ALICE
        + '[[step]]\nop = "connect"\nsession = "alice"\nto = "192.0.2.10:21"\n\n'
        + '[[step]]\nop = "connect"\nsession = "alice"\nto = "192.0.2.10:23"\n\n'
    )
    ftp, telnet = replay(load, ruleset, text)[1:]
    assert (ftp.action, ftp.session_name) == (VerdictAction.ACCEPT, "alice")
    assert 'allowed by "staff protocols"' in str(ftp.data["detail"])
    assert telnet.action is VerdictAction.DISCARD


def test_bind_for_client_and_future_connect(load: LoadTrace, ruleset: RuleSet) -> None:
    """R37/R38/R44: a new allowed bind on the external address; R46: the granted connect."""
    text = (
        ALICE
        + '[[step]]\nop = "bind_for_client"\nid = "c1"\nsession = "alice"\ntransport = "tcp"\n'
        'client_addresses = ["10.0.0.5:20"]\nprotocol_guid = "FTP"\n\n'
        '[[step]]\nop = "allow_future_connect"\nsession = "alice"\n'
        'address = "192.0.2.10:30000"\nprotocol_guid = "FTP"\n\n'
        '[[step]]\nop = "connect"\nsession = "alice"\nto = "192.0.2.10:30000"\n\n'
    )
    client_bind, grant, used = replay(load, ruleset, text)[1:]
    assert (client_bind.result, client_bind.state, client_bind.bind_name) == (
        HResult.S_OK,
        BindState.ALLOWED,
        "c1",
    )
    assert str(client_bind.data["address"]).startswith("198.51.100.1:")
    assert client_bind.data["client_addresses"] == ["10.0.0.5:20"]
    assert grant.result is HResult.S_OK
    assert grant.data["flags"] == FutureFlags.TIMEOUT
    assert (used.action, used.reason) == (VerdictAction.ACCEPT, "future-connect")


def test_r70_register_and_unregister(load: LoadTrace, ruleset: RuleSet) -> None:
    register = (
        '[[step]]\nop = "register_protocol"\n'
        'protocol = { name = "Chat", guid = "a5b2c3d4-0000-4000-8000-000000006667", '
        'primary = { port = 6667, transport = "tcp", direction = "outbound" } }\n\n'
    )
    unregister = '[[step]]\nop = "unregister_protocol"\nprotocol_guid = "Chat"\n\n'
    results = replay(load, ruleset, register + register + unregister + unregister)
    assert [r.result for r in results] == [
        HResult.S_OK,
        HResult.ALREADY_EXISTS,
        HResult.S_OK,
        HResult.NOT_FOUND,
    ]
    assert results[3].data["protocol_name"] == "Chat"


def test_r23_r103_terminate_and_close(load: LoadTrace, ruleset: RuleSet) -> None:
    text = (
        ALICE
        + bind("b1", "198.51.100.1:40000")
        + '[[step]]\nop = "terminate"\nbind = "b1"\n\n'
        + allow("198.51.100.1:40000")
        + '[[step]]\nop = "terminate"\nbind = "b1"\n\n'
        + '[[step]]\nop = "close"\nbind = "198.51.100.1:40000"\n\n'
        + allow("198.51.100.1:40000")
        + '[[step]]\nop = "close"\nbind = "b1"\n\n'
        + '[[step]]\nop = "close"\nbind = "198.51.100.1:40000"\n\n'
    )
    results = replay(load, ruleset, text)[2:]
    assert [(r.result, r.state) for r in results] == [
        (HResult.S_OK, BindState.TERMINATING),
        (HResult.FWX_E_TERMINATING, BindState.TERMINATING),
        (HResult.FWX_E_TERMINATING, BindState.TERMINATING),
        (HResult.S_OK, BindState.CLOSED),
        (HResult.NOT_FOUND, None),
        (HResult.NOT_FOUND, BindState.CLOSED),
        (HResult.NOT_FOUND, None),
    ]


def test_a_bind_whose_creation_failed_is_not_found(load: LoadTrace, ruleset: RuleSet) -> None:
    text = (
        ALICE
        + bind("b1", "198.51.100.1:40000")
        + bind("b2", "198.51.100.1:40000")
        + '[[step]]\nop = "close"\nbind = "b2"\n\n'
    )
    taken, close = replay(load, ruleset, text)[2:]
    assert taken.result is HResult.E_INVALIDARG
    assert (close.result, close.bind) == (HResult.NOT_FOUND, None)


def test_r8_an_ended_session_binds_nothing(load: LoadTrace, ruleset: RuleSet) -> None:
    text = (
        ALICE
        + bind("b1", "198.51.100.1:40000")
        + '[[step]]\nop = "end_session"\nsession = "alice"\n\n'
        + bind("b2", "198.51.100.1:40001")
    )
    ended, refused = replay(load, ruleset, text)[2:]
    assert ended.data["binds_closed"] == [1]
    assert [event["kind"] for event in ended.events][-1] == "session-ended"
    assert refused.result is HResult.FWX_E_TERMINATING


def test_time_outs_need_advance(load: LoadTrace, ruleset: RuleSet) -> None:
    """A pending bind ends after pending_bind_timeout: never approved by a time-out."""
    advance = '[[step]]\nop = "advance"\nseconds = {}\n\n'
    text = (
        ALICE
        + bind("b1", "198.51.100.1:40000")
        + advance.format(119)
        + traffic("inbound", "192.0.2.10:20", "198.51.100.1:40000")
        + advance.format(1)
        + traffic("inbound", "192.0.2.10:20", "198.51.100.1:40000")
    )
    results = replay(load, ruleset, text)
    assert [r.time for r in results] == [0, 0, 119, 119, 120, 120]
    assert results[3].reason == "pending"
    assert "bind-expired b1 #1" in results[4].note
    assert results[5].reason == "no-bind"


def test_r85_replace_rules_reports_and_rechecks(
    load: LoadTrace, ruleset: RuleSet, tmp_path: Path, rules_text: str
) -> None:
    """Live binds keep their state; recheck applies the new bind-time decision on request."""
    opened = rules_text.replace('protocols = ["DNS"]', 'protocols = ["DNS", "Game host"]')
    (tmp_path / "open.toml").write_text(opened)
    text = (
        ANON
        + bind("game", "198.51.100.1:7777", session="anon")
        + '[[step]]\nop = "replace_rules"\nrules = "open.toml"\nrecheck = true\n\n'
    )
    pending, replaced = replay(load, ruleset, text)[1:]
    assert pending.state is BindState.PENDING
    assert replaced.data["would_differ"] == [1]
    assert replaced.data["recheck"] == {"1": "S_OK"}
    assert "1 rule changed" in replaced.note


def test_r33_openings_exist_only_for_allowed_binds(load: LoadTrace, ruleset: RuleSet) -> None:
    openings = '[[step]]\nop = "openings"\n\n'
    text = (
        ALICE
        + bind("data", "198.51.100.1:40000")
        + openings
        + allow("198.51.100.1:40000", 'ip_filter = "servers"')
        + openings
    )
    before, after = (r for r in replay(load, ruleset, text) if r.op == "openings")
    assert before.data["openings"] == []
    assert before.note == "no openings"
    assert after.data["openings"] == [
        {
            "transport": "tcp",
            "address": "198.51.100.1:40000",
            "remote": ["192.0.2.0-192.0.2.98", "192.0.2.100-192.0.2.255"],
            "bind": 1,
            "bind_name": "data",
        }
    ]


def test_to_json_is_one_json_object(load: LoadTrace, ruleset: RuleSet) -> None:
    """R97: NOT_FOUND is 0x80070490."""
    results = replay(load, ruleset, ALICE + allow("198.51.100.1:40000"))
    line = json.loads(json.dumps(results[1].to_json()))
    assert line["step"] == 2
    assert line["op"] == "retroactive_allow_bind"
    assert (line["result"], line["hresult"]) == ("NOT_FOUND", "0x80070490")
    assert line["session_name"] == "alice"
    assert line["events"][0]["kind"] == "allow-refused"


def test_to_json_for_a_verdict(load: LoadTrace, ruleset: RuleSet) -> None:
    text = ALICE + bind("b1", "198.51.100.1:40000")
    text += traffic("inbound", "192.0.2.10:20", "198.51.100.1:40000")
    line = replay(load, ruleset, text)[2].to_json()
    assert {key: line[key] for key in ("verdict", "reason", "bind", "bind_name", "state")} == {
        "verdict": "discard",
        "reason": "pending",
        "bind": 1,
        "bind_name": "b1",
        "state": "pending",
    }
    assert "result" not in line


def test_a_replay_is_deterministic(load: LoadTrace, ruleset: RuleSet) -> None:
    text = ALICE + bind("b1", "198.51.100.1:0") + allow("0.0.0.0:0")
    first = [r.to_json() for r in replay(load, ruleset, text)]
    second = [r.to_json() for r in replay(load, ruleset, text)]
    assert first == second
