"""The in-process control: calls marshalled to the service's loop, answers as plain values."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from console.control.local import LocalControl
from console.tui.demo_client import open_socks, request
from engine import Engine, HResult, IpFilter, Transport
from engine.admin.operations import build_ip_filter
from engine.admin.snapshots import EventBatch, IpFilterSpec
from engine.socks import Command
from rules.loader import load, loads
from rules.model import Action, ProtocolRule
from rules.starter import STARTER_TEXT

FTP = "a5b2c3d4-0000-4000-8000-000000000021"
TELNET = "7e1e7e1e-0000-4000-8000-000000000023"


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 20))


def make_bind(control: LocalControl, port: int, transport: Transport = Transport.TCP) -> int:
    """A bind made straight on the engine (no socket), on the service's loop."""

    def create(engine: Engine) -> int:
        session = engine.session("127.0.0.5")
        result, bind = engine.bind(session, transport, ("127.0.0.1", port))
        assert result is HResult.S_OK
        assert bind is not None
        return bind.id

    return control.call(create)


def test_listings_are_snapshots(control: LocalControl) -> None:
    bind_id = make_bind(control, 40001)
    binds = run(control.binds())
    assert [(b.id, b.state, b.port) for b in binds] == [(bind_id, "pending", 40001)]
    [session] = run(control.sessions())
    assert (session.client, session.binds, session.pending) == ("127.0.0.5", 1, 1)
    protocols = run(control.protocols())
    assert {p.name: p.source for p in protocols}["Telnet"] == "rules"
    assert [rule.role[:5] for rule in run(control.rules())] == ["allow"]
    assert [item.name for item in run(control.ip_filters())] == ["documentation networks"]
    assert run(control.openings()) == []
    info = run(control.info())
    assert info.listen == "{}:{}".format(*control.service.address)


@pytest.mark.parametrize(
    ("flags", "spec", "protocol", "expected"),
    [
        (0, IpFilterSpec("none"), FTP, HResult.S_OK),
        (0, IpFilterSpec("block"), FTP, HResult.S_OK),
        (0, IpFilterSpec("set", set_name="documentation networks"), FTP, HResult.S_OK),
        (0, IpFilterSpec("ranges", include=("127.0.0.2",)), FTP, HResult.S_OK),
        (0, IpFilterSpec("set", set_name="missing"), FTP, HResult.E_INVALIDARG),
        (0, IpFilterSpec("ranges", include=("banana",)), FTP, HResult.E_INVALIDARG),
        (0, IpFilterSpec("sideways"), FTP, HResult.E_INVALIDARG),
        (0, IpFilterSpec("none"), "not-a-guid", HResult.E_INVALIDARG),
        (0x10, IpFilterSpec("none"), FTP, HResult.E_INVALIDARG),
        (1, IpFilterSpec("none"), FTP, HResult.E_INVALIDARG),
        (0, IpFilterSpec("none"), TELNET, HResult.FWX_E_PROTOCOL_RULES_DENIED),
        (0, IpFilterSpec("none"), None, HResult.FWX_E_PROTOCOL_RULES_DENIED),
        (0, IpFilterSpec("none"), str(uuid.UUID(int=7)), HResult.FWX_E_PROTOCOL_RULES_DENIED),
    ],
)
def test_r34_allow_answers_with_the_engines_result_codes(
    control: LocalControl, flags: int, spec: IpFilterSpec, protocol: str | None, expected: HResult
) -> None:
    """R21, R22, R25, R26, R34: the control adds no outcome of its own but NOT_FOUND."""
    bind_id = make_bind(control, 40002)
    assert run(control.allow(bind_id, protocol, flags, spec)) is expected


def test_r24_r23_r18_allow_after_allow_terminate_and_close(idle_control: LocalControl) -> None:
    bind_id = make_bind(idle_control, 40003)
    none = IpFilterSpec()
    assert run(idle_control.allow(bind_id, FTP, 0, none)) is HResult.S_OK
    assert run(idle_control.allow(bind_id, FTP, 0, none)) is HResult.S_FALSE
    idle_control.call(lambda engine: engine.terminate(engine.get_bind(bind_id)))
    assert run(idle_control.allow(bind_id, FTP, 0, none)) is HResult.FWX_E_TERMINATING
    idle_control.call(lambda engine: engine.close(engine.get_bind(bind_id)))
    assert run(idle_control.allow(bind_id, FTP, 0, none)) is HResult.NOT_FOUND


def test_r31_bidirectional_is_accepted_on_udp(control: LocalControl) -> None:
    bind_id = make_bind(control, 40004, Transport.UDP)
    assert run(control.allow(bind_id, FTP, 1, IpFilterSpec())) is HResult.S_OK
    [bind] = run(control.binds())
    assert bind.flag_names == ("BIDIRECTIONAL",)
    assert run(control.openings())[0].bind_id == bind_id


def test_ip_filter_specs_become_engine_filters() -> None:
    ruleset = loads(STARTER_TEXT)
    assert build_ip_filter(IpFilterSpec("none"), ruleset) is None
    blocked = build_ip_filter(IpFilterSpec("block"), ruleset)
    assert blocked is not None
    assert blocked.is_included("127.0.0.2") is HResult.S_FALSE
    named = build_ip_filter(IpFilterSpec("set", set_name="documentation networks"), ruleset)
    assert named is not None
    documentation = ruleset.ip_filters[0]
    expected = IpFilter.from_specs(documentation.include, documentation.exclude)
    assert named.compare(expected) is HResult.S_OK


def test_terminate_really_closes_the_clients_socket(control: LocalControl) -> None:
    async def scenario() -> None:
        reader, writer = await open_socks(control.service.address, "127.0.0.5")
        await request(reader, writer, Command.BIND, ("0.0.0.0", 0))
        [bind] = await control.binds()
        assert await control.terminate(bind.id) is HResult.S_OK
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest[1:2] in (b"", b"\x01"), "at most a failure reply, then the close"
        writer.close()
        assert await control.terminate(bind.id) is HResult.NOT_FOUND

    run(scenario())


def test_register_protocol_saves_and_applies(control: LocalControl, rules_path: Path) -> None:
    ftp = load(rules_path).protocol("FTP")
    assert ftp is not None
    copy = dataclasses.replace(ftp, guid=uuid.UUID(int=99), name="FTP 2")
    outcome = run(control.register_protocol(copy))
    assert outcome.result is HResult.S_OK
    assert load(rules_path).protocol("FTP 2") == copy
    assert "FTP 2" in {p.name for p in run(control.protocols())}


def test_r70_registering_a_known_guid_is_already_exists(
    control: LocalControl, rules_path: Path
) -> None:
    before = rules_path.read_bytes()
    ftp = load(rules_path).protocol("FTP")
    assert ftp is not None
    outcome = run(control.register_protocol(dataclasses.replace(ftp, name="other")))
    assert outcome.result is HResult.ALREADY_EXISTS
    assert not outcome.ok
    assert rules_path.read_bytes() == before


def test_an_invalid_rule_set_changes_nothing(control: LocalControl, rules_path: Path) -> None:
    before = rules_path.read_bytes()
    current = run(control.get_rules())
    bad = dataclasses.replace(
        current, rules=(*current.rules, ProtocolRule("x", Action.ALLOW, ("Nope",)))
    )
    outcome = run(control.put_rules(bad))
    assert outcome.result is HResult.E_INVALIDARG
    assert outcome.problems == ("rule[1].protocols[0]: no protocol named 'Nope'",)
    assert rules_path.read_bytes() == before
    assert run(control.get_rules()) == current


def test_an_unwritable_rule_file_changes_nothing(control: LocalControl, rules_path: Path) -> None:
    if os.geteuid() == 0:
        control.service._path = rules_path.parent / "gone" / "fwx.toml"  # root writes anywhere
    else:
        rules_path.parent.chmod(0o500)
    current = run(control.get_rules())
    changed = dataclasses.replace(current, rules=())
    outcome = run(control.put_rules(changed))
    assert outcome.result is HResult.E_INVALIDARG
    assert outcome.message
    assert run(control.get_rules()) == current


def test_a_valid_rule_set_is_saved_and_applied(control: LocalControl, rules_path: Path) -> None:
    current = run(control.get_rules())
    changed = dataclasses.replace(
        current, rules=(dataclasses.replace(current.rules[0], enabled=False),)
    )
    outcome = run(control.put_rules(changed))
    assert outcome.ok
    assert load(rules_path) == changed
    assert run(control.get_rules()) == changed


def test_subscribers_get_batches_with_fresh_snapshots(control: LocalControl) -> None:
    async def scenario() -> list[EventBatch]:
        stream = control.subscribe(interval=0.05)
        batches: list[EventBatch] = []
        await asyncio.sleep(0.1)
        bind_id = make_bind(control, 40005)
        async for batch in stream:
            batches.append(batch)
            if any(b.id == bind_id for b in batch.binds):
                break
        await control.allow(bind_id, FTP, 0, IpFilterSpec())
        async for batch in stream:
            batches.append(batch)
            if any(b.state == "allowed" for b in batch.binds):
                break
        stream.close()
        return batches

    batches = run(scenario())
    kinds = {kind for batch in batches for kind in batch.kinds}
    assert {"session-created", "bind-created", "bind-allowed"} <= kinds
    assert batches[-1].binds[0].allowed_by == "operator:test"


def test_the_stream_ends_when_the_service_stops(rules_path: Path) -> None:
    from engine.service import Service

    local = LocalControl(Service(rules_path, listen="127.0.0.1:0"))
    local.start()

    async def scenario() -> bool:
        stream = local.subscribe(interval=0.05)
        await asyncio.sleep(0.1)
        await asyncio.get_running_loop().run_in_executor(None, local.stop)
        async for _ in stream:
            pass
        return True

    assert run(scenario()), "the stream must end (not hang) once the service stops"
