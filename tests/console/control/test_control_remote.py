"""The admin-socket control: the same answers as the in-process control, over a Unix socket."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from console.control.connection import (
    DISCONNECTED,
    AdminError,
    AdminRefused,
    ServiceNotRunning,
)
from console.control.remote import (
    RemoteControl,
)
from console.tui.demo_client import open_socks, request
from engine import Engine, HResult, Transport
from engine.admin.server import actor_text
from engine.admin.snapshots import EventBatch, IpFilterSpec
from engine.socks import Command
from rules.loader import load
from rules.model import Action, ProtocolRule
from tests.console.control.conftest import Served

pytestmark = pytest.mark.timeout(60)

FTP = "a5b2c3d4-0000-4000-8000-000000000021"
TELNET = "7e1e7e1e-0000-4000-8000-000000000023"
ACTOR = actor_text(os.geteuid())

_T = TypeVar("_T")


def run(coroutine: Awaitable[_T]) -> _T:
    return asyncio.run(asyncio.wait_for(coroutine, 20))


def ask(served: Served, work: Callable[[RemoteControl], Awaitable[_T]]) -> _T:
    """Connect, run ``work`` with the control, close; its answer."""

    async def scenario() -> _T:
        async with RemoteControl(served.path) as control:
            return await work(control)

    return run(scenario())


def make_bind(served: Served, port: int, transport: Transport = Transport.TCP) -> int:
    """A bind made straight on the engine (no socket), on the service's loop."""

    def create(engine: Engine) -> int:
        result, bind = engine.bind(engine.session("127.0.0.5"), transport, ("127.0.0.1", port))
        assert result is HResult.S_OK
        assert bind is not None
        return bind.id

    return served.running.engine_call(create)


def test_listings_are_snapshots(served: Served) -> None:
    bind_id = make_bind(served, 40001)

    async def work(control: RemoteControl) -> None:
        binds = await control.binds()
        assert [(b.id, b.state, b.port) for b in binds] == [(bind_id, "pending", 40001)]
        [session] = await control.sessions()
        assert (session.client, session.binds, session.pending) == ("127.0.0.5", 1, 1)
        protocols = await control.protocols()
        assert {p.name: p.source for p in protocols}["Telnet"] == "rules"
        assert [rule.role[:5] for rule in await control.rules()] == ["allow"]
        assert [item.name for item in await control.ip_filters()] == ["documentation networks"]
        assert await control.openings() == []
        info = await control.info()
        assert info.listen == "{}:{}".format(*served.running.address)
        status = await control.status()
        assert (status.binds, status.pending, status.sessions) == (1, 1, 1)
        one = await control.bind(bind_id)
        assert one is not None
        assert (one.id, one.state, one.port) == (bind_id, "pending", 40001)
        assert await control.bind(bind_id + 1000) is None
        assert control.actor == ACTOR

    ask(served, work)


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
    served: Served, flags: int, spec: IpFilterSpec, protocol: str | None, expected: HResult
) -> None:
    """R21, R22, R25, R26, R34: the socket adds no outcome of its own."""
    bind_id = make_bind(served, 40002)
    assert ask(served, lambda c: c.allow(bind_id, protocol, flags, spec)) is expected


def test_r24_r23_r18_allow_after_allow_terminate_and_close(idle_served: Served) -> None:
    bind_id = make_bind(idle_served, 40003)
    engine_call = idle_served.running.engine_call

    async def work(control: RemoteControl) -> list[HResult]:
        none = IpFilterSpec()
        answers = [await control.allow(bind_id, FTP, 0, none)]
        answers.append(await control.allow(bind_id, FTP, 0, none))
        await asyncio.to_thread(engine_call, lambda e: e.terminate(e.get_bind(bind_id)))
        answers.append(await control.allow(bind_id, FTP, 0, none))
        await asyncio.to_thread(engine_call, lambda e: e.close(e.get_bind(bind_id)))
        answers.append(await control.allow(bind_id, FTP, 0, none))
        return answers

    assert ask(idle_served, work) == [
        HResult.S_OK,
        HResult.S_FALSE,
        HResult.FWX_E_TERMINATING,
        HResult.NOT_FOUND,
    ]


def test_r31_bidirectional_is_accepted_on_udp(served: Served) -> None:
    bind_id = make_bind(served, 40004, Transport.UDP)

    async def work(control: RemoteControl) -> None:
        assert await control.allow(bind_id, FTP, 1, IpFilterSpec()) is HResult.S_OK
        [bind] = await control.binds()
        assert bind.flag_names == ("BIDIRECTIONAL",)
        assert (await control.openings())[0].bind_id == bind_id

    ask(served, work)


def test_terminate_really_closes_the_clients_socket(served: Served) -> None:
    async def work(control: RemoteControl) -> None:
        reader, writer = await open_socks(served.running.address, "127.0.0.5")
        await request(reader, writer, Command.BIND, ("0.0.0.0", 0))
        [bind] = await control.binds()
        assert await control.terminate(bind.id) is HResult.S_OK
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest[1:2] in (b"", b"\x01"), "at most a failure reply, then the close"
        writer.close()
        assert await control.terminate(bind.id) is HResult.NOT_FOUND

    ask(served, work)


def test_register_protocol_saves_and_applies(served: Served, rules_path: Path) -> None:
    ftp = load(rules_path).protocol("FTP")
    assert ftp is not None
    copy = dataclasses.replace(ftp, guid=uuid.UUID(int=99), name="FTP 2")
    outcome = ask(served, lambda c: c.register_protocol(copy))
    assert outcome.result is HResult.S_OK
    assert load(rules_path).protocol("FTP 2") == copy
    assert "FTP 2" in {p.name for p in ask(served, lambda c: c.protocols())}
    gone = ask(served, lambda c: c.unregister_protocol("FTP 2"))
    assert gone.result is HResult.S_OK
    assert load(rules_path).protocol("FTP 2") is None


def test_r70_registering_a_known_guid_is_already_exists(served: Served, rules_path: Path) -> None:
    before = rules_path.read_bytes()
    ftp = load(rules_path).protocol("FTP")
    assert ftp is not None
    outcome = ask(served, lambda c: c.register_protocol(dataclasses.replace(ftp, name="other")))
    assert outcome.result is HResult.ALREADY_EXISTS
    assert not outcome.ok
    assert rules_path.read_bytes() == before


def test_an_invalid_rule_set_changes_nothing(served: Served, rules_path: Path) -> None:
    before = rules_path.read_bytes()
    current = ask(served, lambda c: c.get_rules())
    bad = dataclasses.replace(
        current, rules=(*current.rules, ProtocolRule("x", Action.ALLOW, ("Nope",)))
    )
    outcome = ask(served, lambda c: c.put_rules(bad))
    assert outcome.result is HResult.E_INVALIDARG
    [problem] = outcome.problems
    assert problem.startswith("<admin>:")
    assert problem.endswith(": rule[1].protocols[0]: no protocol named 'Nope'")
    assert rules_path.read_bytes() == before
    assert ask(served, lambda c: c.get_rules()) == current


def test_an_unwritable_rule_file_changes_nothing(served: Served, rules_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = rules_path.with_name(rules_path.name + ".bak") / "keep"
        blocker.mkdir(parents=True)
    else:
        rules_path.parent.chmod(0o500)
    current = ask(served, lambda c: c.get_rules())
    outcome = ask(served, lambda c: c.put_rules(dataclasses.replace(current, rules=())))
    assert outcome.result is HResult.E_INVALIDARG
    assert outcome.message
    assert ask(served, lambda c: c.get_rules()) == current


def test_a_valid_rule_set_is_saved_and_applied(served: Served, rules_path: Path) -> None:
    current = ask(served, lambda c: c.get_rules())
    changed = dataclasses.replace(
        current, rules=(dataclasses.replace(current.rules[0], enabled=False),)
    )
    assert ask(served, lambda c: c.put_rules(changed)).ok
    assert load(rules_path) == changed
    assert ask(served, lambda c: c.get_rules()) == changed
    reload = ask(served, lambda c: c.reload())
    assert reload.result is HResult.S_OK


def test_recheck_answers_per_bind(served: Served) -> None:
    bind_id = make_bind(served, 40006)
    [answer] = ask(served, lambda c: c.recheck([bind_id]))
    assert answer.bind_id == bind_id
    assert answer.result in set(HResult)


def test_subscribers_get_batches_with_fresh_snapshots(served: Served) -> None:
    async def work(control: RemoteControl) -> list[EventBatch]:
        stream = control.subscribe(interval=0.05)
        batches: list[EventBatch] = []
        await asyncio.sleep(0.2)
        bind_id = await asyncio.to_thread(make_bind, served, 40005)
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

    batches = ask(served, work)
    kinds = {kind for batch in batches for kind in batch.kinds}
    assert {"session-created", "bind-created", "bind-allowed"} <= kinds
    assert batches[-1].binds[0].allowed_by == ACTOR


def test_the_stream_ends_when_the_service_stops(served: Served) -> None:
    async def scenario() -> bool:
        async with RemoteControl(served.path) as control:
            stream = control.subscribe(interval=0.05)
            await asyncio.sleep(0.2)
            await asyncio.to_thread(served.stop)
            async for _ in stream:
                pass
        return True

    assert run(scenario()), "the stream must end (not hang) once the service stops"


def test_a_bad_interval_fails_the_stream_in_one_line(served: Served) -> None:
    async def work(control: RemoteControl) -> None:
        stream = control.subscribe(interval=0.001)
        with pytest.raises(AdminError) as caught:
            await stream.__anext__()
        assert caught.value.code == "bad-params"
        assert "interval" in caught.value.message

    ask(served, work)


def test_many_calls_may_overlap_on_one_connection(served: Served) -> None:
    ids = [make_bind(served, 40100 + n) for n in range(10)]

    async def work(control: RemoteControl) -> list[Any]:
        calls = [control.bind(bind_id) for bind_id in ids] + [control.openings()]
        return await asyncio.gather(*calls)

    *binds, openings = ask(served, work)
    assert [bind.id for bind in binds] == ids
    assert openings == []


# -- failures ------------------------------------------------------------------------


def test_no_socket_file_is_service_not_running(short_dir: Path) -> None:
    path = short_dir / "admin.sock"
    with pytest.raises(ServiceNotRunning) as caught:
        run(RemoteControl(path).connect())
    assert str(caught.value) == (
        f"no fwx service is listening on {path} (start one with `fwx serve`)"
    )


def test_a_stale_socket_file_is_service_not_running(short_dir: Path) -> None:
    path = short_dir / "admin.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as left_behind:
        left_behind.bind(os.fspath(path))
    with pytest.raises(ServiceNotRunning):
        run(RemoteControl(path).connect())

    async def stream() -> None:
        async for _ in RemoteControl(path).subscribe():
            pass

    with pytest.raises(ServiceNotRunning):
        run(stream())


def test_calls_need_a_connection(short_dir: Path) -> None:
    with pytest.raises(AdminError, match="call connect"):
        run(RemoteControl(short_dir / "admin.sock").binds())


def test_a_connection_dropped_mid_call_is_one_line(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()

    async def stuck(bind_id: int, *, actor: str) -> HResult:
        started.set()
        await asyncio.Event().wait()
        return HResult.S_OK

    monkeypatch.setattr(served.running.service.operations, "terminate", stuck)

    async def work(control: RemoteControl) -> None:
        call = asyncio.ensure_future(control.terminate(1))
        await asyncio.to_thread(started.wait, 5)
        await asyncio.to_thread(served.stop)
        with pytest.raises(AdminError) as caught:
            await call
        assert caught.value.code == DISCONNECTED
        assert str(caught.value) == f"the fwx service at {served.path} closed the connection"
        with pytest.raises(AdminError):
            await control.openings()

    ask(served, work)


REFUSAL = "uid 65534 (nobody) may not use this socket"


async def greet_with(path: Path, first_line: bytes) -> asyncio.AbstractServer:
    """A stand-in server at ``path`` that sends ``first_line`` to each client, then waits."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(first_line)
        await reader.read()
        writer.close()

    return await asyncio.start_unix_server(greet, path=os.fspath(path))


@pytest.mark.parametrize(
    ("first_line", "kind", "code", "words"),
    [
        (
            b'{"error": {"code": "refused", "message": "' + REFUSAL.encode() + b'"}}\n',
            AdminRefused,
            "refused",
            REFUSAL,
        ),
        (b'{"hello": {"service": "ssh"}}\n', AdminError, "bad-hello", "does not speak fwx"),
        (b"", AdminError, "timeout", "no greeting from"),
    ],
)
def test_a_greeting_that_is_not_fwx_hello_is_one_line(
    short_dir: Path, first_line: bytes, kind: type[AdminError], code: str, words: str
) -> None:
    """The refusal of the real server (see test_server's setpriv test) becomes AdminRefused."""
    path = short_dir / "admin.sock"

    async def scenario() -> None:
        server = await greet_with(path, first_line)
        try:
            with pytest.raises(kind) as caught:
                await RemoteControl(path, timeout=0.2).connect()
        finally:
            server.close()
        assert caught.value.code == code
        assert words in str(caught.value)
        assert "\n" not in str(caught.value)

    run(scenario())
