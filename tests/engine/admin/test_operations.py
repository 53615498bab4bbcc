"""Operations: the requests an operator makes of a service, answered as snapshots.

The service is real (a SOCKS listener on loopback); binds are made straight
on its engine, so these tests need no client traffic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from engine import Engine, HResult, Transport
from engine.admin.operations import Operations, resolve_protocol
from engine.admin.snapshots import IpFilterSpec
from engine.service import Service
from rules.loader import load, loads
from rules.model import Direction, PrimaryConnection, ProtocolDefinition
from rules.passwords import hash_password
from rules.saver import save
from rules.starter import STARTER_TEXT

_T = TypeVar("_T")

GAME = """
[[protocol]]
name = "Game"
guid = "9a9e0000-0000-4000-8000-000000007777"
primary = { port = 7777, transport = "tcp", direction = "inbound" }
"""
GAME_RULE = """
[[rule]]
name = "lan may play"
action = "allow"
protocols = ["Game"]
users = ["any"]
clients = ["lan"]
"""


def serve(rules: Path, work: Callable[[Service], Awaitable[_T]]) -> _T:
    """Run ``work`` against a started service on 127.0.0.1, then stop the service."""

    async def main() -> _T:
        service = Service(rules, listen="127.0.0.1:0", tick_interval=3600)
        await service.start()
        try:
            return await asyncio.wait_for(work(service), 20)
        finally:
            await service.stop()

    return asyncio.run(main())


def pending_bind(engine: Engine, port: int) -> int:
    session = engine.session("127.0.0.5")
    result, bind = engine.bind(session, Transport.TCP, ("127.0.0.1", port))
    assert result is HResult.S_OK
    assert bind is not None
    return bind.id


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "fwx.toml"
    path.write_text(STARTER_TEXT + GAME)
    return path


def test_resolve_protocol_takes_a_guid_or_a_known_name() -> None:
    known = loads(STARTER_TEXT).protocols
    ftp = uuid.UUID("a5b2c3d4-0000-4000-8000-000000000021")
    assert resolve_protocol("ftp", known) == ftp
    assert resolve_protocol("{A5B2C3D4-0000-4000-8000-000000000021}", known) == ftp
    with pytest.raises(ValueError, match="neither a GUID nor the name"):
        resolve_protocol("gopher", known)


def test_r85_reload_lists_pending_binds_that_would_differ_and_recheck_applies_it(
    rules: Path,
) -> None:
    async def work(service: Service) -> None:
        ops = service.operations
        game = pending_bind(service.engine, 7777)
        other = pending_bind(service.engine, 40000)
        rules.write_text(STARTER_TEXT + GAME + GAME_RULE)
        outcome = await ops.reload(actor="test")
        assert outcome.result is HResult.S_OK
        assert outcome.rules_added == ("lan may play",)
        assert [bind.id for bind in outcome.would_differ] == [game]
        assert ops.bind(game).state == "pending"  # a reload alone changes no live bind
        answers = await ops.recheck([game, other], actor="test")
        assert [(a.bind_id, a.result) for a in answers] == [
            (game, HResult.S_OK),
            (other, HResult.FWX_E_PROTOCOL_RULES_DENIED),
        ]
        assert ops.bind(game).state == "allowed"

    serve(rules, work)


def test_an_invalid_file_changes_nothing_and_says_where(rules: Path) -> None:
    async def work(service: Service) -> None:
        before = service.engine.rules
        rules.write_text(STARTER_TEXT + GAME + '\n[[rule]]\nname = "broken"\naction = "maybe"\n')
        outcome = await service.operations.reload(actor="test")
        assert outcome.result is HResult.E_INVALIDARG
        assert outcome.problems
        assert all(str(rules) in line for line in outcome.problems)
        assert any("action" in line for line in outcome.problems)
        assert service.engine.rules is before

    serve(rules, work)


def test_allow_takes_a_protocol_name_and_records_the_actor(rules: Path) -> None:
    async def work(service: Service) -> None:
        ops = service.operations
        bind_id = pending_bind(service.engine, 40001)
        spec = IpFilterSpec("ranges", include=("127.0.0.2",))
        assert await ops.allow(bind_id, "FTP", 0, spec, actor="admin:root(uid 0)") is HResult.S_OK
        snapshot = ops.bind(bind_id)
        assert snapshot is not None
        assert (snapshot.state, snapshot.protocol_name) == ("allowed", "FTP")
        assert snapshot.allowed_by == "admin:root(uid 0)"
        assert snapshot.ip_filter == ("127.0.0.2",)
        assert await ops.allow(bind_id, "FTP", 0, spec, actor="x") is HResult.S_FALSE
        assert await ops.allow(bind_id, "gopher", 0, spec, actor="x") is HResult.E_INVALIDARG
        assert await ops.allow(999, "FTP", 0, spec, actor="x") is HResult.NOT_FOUND

    serve(rules, work)


def test_protocols_register_and_unregister_live_and_in_the_file(rules: Path) -> None:
    extra = ProtocolDefinition(
        uuid.UUID("0b0b0000-0000-4000-8000-000000005060"),
        "SIP",
        PrimaryConnection(5060, Transport.UDP, Direction.SEND_RECEIVE),
    )

    async def work(service: Service) -> None:
        ops = service.operations
        assert (await ops.register_protocol(extra, actor="test")).result is HResult.S_OK
        assert "SIP" in [proto.name for proto in load(rules).protocols]
        again = await ops.register_protocol(extra, actor="test")
        assert again.result is HResult.ALREADY_EXISTS
        assert (await ops.unregister_protocol("sip", actor="test")).result is HResult.S_OK
        assert "SIP" not in [proto.name for proto in load(rules).protocols]
        assert "SIP" not in [proto.name for proto in ops.protocols()]
        missing = await ops.unregister_protocol("SIP", actor="test")
        assert missing.result is HResult.NOT_FOUND

    serve(rules, work)


def test_a_run_time_registration_is_unregistered_without_touching_the_file(
    rules: Path,
) -> None:
    runtime = ProtocolDefinition(
        uuid.UUID("0c0c0000-0000-4000-8000-000000001234"),
        "Plugin",
        PrimaryConnection(1234, Transport.TCP, Direction.OUTBOUND),
    )

    async def work(service: Service) -> None:
        assert service.engine.register_protocol(runtime) is HResult.S_OK
        before = rules.read_bytes()
        outcome = await service.operations.unregister_protocol(str(runtime.guid), actor="t")
        assert outcome.result is HResult.S_OK
        assert rules.read_bytes() == before
        assert runtime.guid not in [proto.guid for proto in service.engine.protocols()]

    serve(rules, work)


def test_status_counts_what_the_engine_holds(rules: Path) -> None:
    async def work(service: Service) -> None:
        ops: Operations = service.operations
        first = pending_bind(service.engine, 40001)
        pending_bind(service.engine, 40002)
        await ops.allow(first, "FTP", 0, IpFilterSpec(), actor="test")
        status = ops.status()
        assert (status.binds, status.pending, status.allowed) == (2, 1, 1)
        assert (status.sessions, status.openings) == (1, 1)
        assert status.listen == "{}:{}".format(*service.address)
        assert status.rules_path == str(rules)
        assert status.protocols == 5
        assert status.rules == 1

    serve(rules, work)


def test_get_rules_sends_no_password_hash_and_put_rules_keeps_the_one_in_force(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fwx.toml"
    ruleset = loads(STARTER_TEXT + GAME)
    hashed = dataclasses.replace(ruleset.users[0], password=hash_password("correct horse"))
    save(dataclasses.replace(ruleset, users=(hashed,)), path)

    async def work(service: Service) -> None:
        ops = service.operations
        sent = ops.get_rules()
        assert [user.password for user in sent.users] == [None]
        edited = dataclasses.replace(sent, rules=())
        assert (await ops.put_rules(edited, actor="test")).result is HResult.S_OK
        assert load(path).users[0].password == hashed.password
        assert service.engine.rules.rules == ()

    serve(path, work)


def test_a_reload_reads_the_file_while_the_event_loop_goes_on(rules: Path) -> None:
    """Parsing a large rule file takes seconds: relays must not wait for it."""

    async def work(service: Service) -> None:
        turns = 0
        reloading = True

        async def other_work() -> None:
            nonlocal turns
            while reloading:
                turns += 1
                await asyncio.sleep(0)

        rules.write_text(STARTER_TEXT + GAME + GAME_RULE)
        other = asyncio.ensure_future(other_work())
        await asyncio.sleep(0)
        before = turns
        outcome = await service.operations.reload(actor="test")
        during = turns - before
        reloading = False
        await other
        assert outcome.result is HResult.S_OK
        assert during > 0

    serve(rules, work)
