"""The admin socket server on a real Unix socket, next to a real service on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, HResult, Transport
from engine.admin.batches import KEEP_EVENTS
from engine.admin.errors import AdminSocketError
from engine.admin.paths import default_socket_path
from engine.admin.protocol import MAX_LINE, decode_protocol, decode_rules, encode_rules
from engine.admin.server import AdminServer, BatchOutbox, actor_text
from engine.admin.snapshots import (
    BindSnapshot,
    EventBatch,
    EventSnapshot,
    IpFilterSetSnapshot,
    Outcome,
    ProtocolSnapshot,
    RecheckResult,
    ReloadOutcome,
    RuleSnapshot,
    ServiceInfo,
    SessionSnapshot,
    StatusSnapshot,
)
from engine.admin.values import from_json
from rules.model import RuleSet
from tests.e2e.harness import FTP_GUID, WAIT
from tests.e2e.socks_client import BIND, SocksClient
from tests.engine.admin.conftest import Admin

pytestmark = pytest.mark.timeout(60)

ROOT_ACTOR = "admin:root(uid 0)" if os.geteuid() == 0 else actor_text(os.geteuid())


class LineClient:
    """A blocking JSON-lines client of the admin socket, with a time-out on every read."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(WAIT)
        self.sock.connect(os.fspath(path))
        self._file = self.sock.makefile("rb")
        self._last_id = 0

    def __enter__(self) -> LineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self.sock.close()

    def raw_line(self) -> bytes:
        """The next line as sent (empty once the server has closed the connection)."""
        try:
            return self._file.readline()
        except ConnectionResetError:
            return b""

    def read(self) -> dict[str, Any] | None:
        """The next message, or None once the server has closed the connection."""
        line = self.raw_line()
        return json.loads(line) if line else None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(json.dumps(message).encode() + b"\n")
        return self._last_id

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and read its reply (checking the id)."""
        request_id = self.request(method, params)
        reply = self.read()
        assert reply is not None, f"{method}: the connection closed"
        assert reply["id"] == request_id
        return reply

    def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        reply = self.call(method, params)
        assert "result" in reply, reply
        return reply["result"]


def greeted(path: Path) -> LineClient:
    """A connected client that has read the greeting."""
    client = LineClient(path)
    hello = client.read()
    assert hello is not None
    assert "hello" in hello, hello
    return client


def make_bind(admin: Admin, port: int, transport: Transport = Transport.TCP) -> int:
    """A pending bind made straight on the engine, for the client 127.0.0.5."""

    def create(engine: Engine) -> int:
        result, bind = engine.bind(engine.session("127.0.0.5"), transport, ("127.0.0.1", port))
        assert result is HResult.S_OK
        assert bind is not None
        return bind.id

    return admin.running.engine_call(create)


def wait_until(admin: Admin, check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not admin.running.call(check):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def next_batch(client: LineClient, request_id: int) -> EventBatch:
    message = client.read()
    assert message is not None, "the subscription ended"
    assert message["id"] == request_id
    return from_json(EventBatch, message["batch"])


def batch_until(client: LineClient, request_id: int, found: Callable[[EventBatch], bool]) -> None:
    for _ in range(200):
        if found(next_batch(client, request_id)):
            return
    raise AssertionError("no batch showed the change")


# -- greeting and methods ------------------------------------------------------------


def test_hello_names_the_service_the_protocol_and_the_actor(admin: Admin) -> None:
    with LineClient(admin.path) as client:
        hello = client.read()
    assert hello == {
        "hello": {
            "service": "fwx",
            "protocol": 1,
            "version": hello["hello"]["version"],
            "actor": ROOT_ACTOR,
        }
    }


def test_every_listing_round_trips(admin: Admin) -> None:
    bind_id = make_bind(admin, 40001)
    ops = admin.running.service.operations
    with greeted(admin.path) as client:
        status = from_json(StatusSnapshot, client.result("status"))
        assert (status.binds, status.pending, status.pid) == (1, 1, os.getpid())
        [bind] = from_json(list[BindSnapshot], client.result("binds"))
        assert (bind.id, bind.state, bind.port, bind.client) == (
            bind_id,
            "pending",
            40001,
            "127.0.0.5",
        )
        assert from_json(BindSnapshot, client.result("bind", {"id": bind_id})).id == bind_id
        [session] = from_json(list[SessionSnapshot], client.result("sessions"))
        assert (session.client, session.binds, session.pending) == ("127.0.0.5", 1, 1)
        kinds: dict[str, Any] = {
            "info": ServiceInfo,
            "protocols": list[ProtocolSnapshot],
            "rules": list[RuleSnapshot],
            "ip_filters": list[IpFilterSetSnapshot],
        }
        for method, kind in kinds.items():
            expected = admin.running.call(getattr(ops, method))
            assert from_json(kind, client.result(method)) == expected, method
        assert client.result("openings") == []
        rules = decode_rules(client.result("get_rules")["toml"])
        assert rules == admin.running.call(ops.get_rules)


def test_bind_of_an_id_that_is_not_live_is_not_found(admin: Admin) -> None:
    with greeted(admin.path) as client:
        reply = client.call("bind", {"id": 12345})
    assert reply["error"] == {"code": "not-found", "message": "no live bind with id 12345"}


def test_r24_r18_r22_allow_answers_the_services_result_codes(admin: Admin) -> None:
    """R18, R22, R24, R26: S_OK, S_FALSE, NOT_FOUND and E_INVALIDARG arrive by name."""
    bind_id = make_bind(admin, 40002)
    ftp = str(FTP_GUID)
    with greeted(admin.path) as client:
        assert client.result("allow", {"bind_id": bind_id, "protocol": ftp}) == "S_OK"
        assert client.result("allow", {"bind_id": bind_id, "protocol": "FTP"}) == "S_FALSE"
        assert client.result("allow", {"bind_id": 99999, "protocol": ftp}) == "NOT_FOUND"
        params = {"bind_id": bind_id, "protocol": ftp, "flags": 0x10}
        assert client.result("allow", params) == "E_INVALIDARG"
        [bind] = from_json(list[BindSnapshot], client.result("binds"))
    assert (bind.state, bind.allowed_by) == ("allowed", ROOT_ACTOR)


def test_terminate_really_closes_the_binds_listener(admin: Admin) -> None:
    with SocksClient(admin.running.address) as socks, greeted(admin.path) as client:
        assert socks.greet() == 0
        first = socks.request(BIND, "0.0.0.0", 0)
        assert first.code == 0
        bind = admin.running.bind_at(first.address)
        assert client.result("terminate", {"bind_id": bind.id}) == "S_OK"
        assert socks.until_closed()[1:2] in (b"", b"\x01")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(first.address, timeout=WAIT).close()
        assert client.result("terminate", {"bind_id": bind.id}) == "NOT_FOUND"


def test_recheck_and_reload_round_trip(admin: Admin) -> None:
    bind_id = make_bind(admin, 40003)
    with greeted(admin.path) as client:
        [answer] = from_json(list[RecheckResult], client.result("recheck", {"bind_ids": [bind_id]}))
        assert answer.bind_id == bind_id
        reload = from_json(ReloadOutcome, client.result("reload"))
        assert reload.result is HResult.S_OK


def test_protocols_register_and_unregister_through_toml(admin: Admin, rules_path: Path) -> None:
    text = rules_path.read_text().replace("FTP", "FTP 2").replace("000000000021", "000000000099")
    definition = decode_rules(text).protocol("FTP 2")
    assert definition is not None
    single = encode_rules(RuleSet(protocols=(definition,)))
    assert decode_protocol(single) == definition
    with greeted(admin.path) as client:
        outcome = from_json(Outcome, client.result("register_protocol", {"toml": single}))
        assert outcome.result is HResult.S_OK, outcome
        assert decode_rules(rules_path.read_text()).protocol("FTP 2") == definition
        again = from_json(Outcome, client.result("register_protocol", {"toml": single}))
        assert again.result is HResult.ALREADY_EXISTS
        gone = from_json(Outcome, client.result("unregister_protocol", {"protocol": "FTP 2"}))
        assert gone.result is HResult.S_OK
        assert decode_rules(rules_path.read_text()).protocol("FTP 2") is None


def test_toml_that_does_not_load_is_an_invalidarg_outcome(admin: Admin, rules_path: Path) -> None:
    before = rules_path.read_bytes()
    with greeted(admin.path) as client:
        broken = from_json(Outcome, client.result("put_rules", {"toml": "version = [1"}))
        empty = from_json(Outcome, client.result("register_protocol", {"toml": "version = 1\n"}))
    assert broken.result is HResult.E_INVALIDARG
    assert broken.problems[0].startswith("<admin>:1:")
    assert empty.result is HResult.E_INVALIDARG
    assert "exactly one [[protocol]]" in empty.problems[0]
    assert rules_path.read_bytes() == before


def test_r73_a_faulty_protocol_gets_every_problem_at_once(admin: Admin) -> None:
    """R73: its own fault and its clash with the rules in force, in one answer."""
    text = (
        'version = 1\n[[protocol]]\nname = "FTP"\nguid = "a5b2c3d4-0000-4000-8000-0000000000ff"\n'
        'primary = { port = 21, transport = "tcp", direction = "receive" }\n'
    )
    with greeted(admin.path) as client:
        outcome = from_json(Outcome, client.result("register_protocol", {"toml": text}))
    assert outcome.result is HResult.E_INVALIDARG
    assert any("duplicate name 'FTP'" in problem for problem in outcome.problems)
    assert any("is not a tcp direction" in problem for problem in outcome.problems)


def test_put_rules_saves_and_applies(admin: Admin, rules_path: Path) -> None:
    with greeted(admin.path) as client:
        current = decode_rules(client.result("get_rules")["toml"])
        changed = RuleSet(current.service, current.protocols, rules=())
        outcome = from_json(Outcome, client.result("put_rules", {"toml": encode_rules(changed)}))
        assert outcome.result is HResult.S_OK
        assert client.result("rules") == []
    assert decode_rules(rules_path.read_text()) == changed


def test_requests_on_one_connection_are_answered_in_order(admin: Admin) -> None:
    bind_id = make_bind(admin, 40004)
    with greeted(admin.path) as client:
        lines = [
            {"id": 10, "method": "binds"},
            {"id": 11, "method": "allow", "params": {"bind_id": bind_id, "protocol": "FTP"}},
            {"id": 12, "method": "nope"},
            {"id": 13, "method": "bind", "params": {"id": bind_id}},
        ]
        client.send(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
        replies = [client.read() for _ in lines]
    assert [reply["id"] for reply in replies if reply] == [10, 11, 12, 13]
    assert replies[1] == {"id": 11, "result": "S_OK"}
    assert replies[3] is not None
    assert replies[3]["result"]["state"] == "allowed"


def test_many_clients_at_once(admin: Admin) -> None:
    clients = [greeted(admin.path) for _ in range(20)]
    try:
        wait_until(admin, lambda: admin.server.clients == 20, "20 clients are connected")
        for client in clients:
            client.request("status")
            client.request("openings")
        for client in clients:
            assert client.read() is not None
            assert client.read() == {"id": 2, "result": []}
    finally:
        for client in clients:
            client.close()
    wait_until(admin, lambda: admin.server.clients == 0, "every client is gone")


# -- subscriptions -------------------------------------------------------------------


def test_a_subscription_sees_a_bind_appear_and_change_and_ends_with_the_client(
    admin: Admin,
) -> None:
    with greeted(admin.path) as client:
        request_id = client.request("subscribe", {"interval": 0.05})
        assert client.read() == {"id": request_id, "result": {"subscribed": True}}
        client.request("status")
        bind_id = make_bind(admin, 40005)
        batch_until(client, request_id, lambda b: any(x.id == bind_id for x in b.binds))
        with greeted(admin.path) as other:
            assert other.result("allow", {"bind_id": bind_id, "protocol": "FTP"}) == "S_OK"
        batch_until(
            client,
            request_id,
            lambda b: any(x.state == "allowed" and x.allowed_by == ROOT_ACTOR for x in b.binds),
        )
        assert admin.running.call(lambda: len(admin.server.backlogs())) == 1
    wait_until(admin, lambda: admin.server.clients == 0, "the subscriber is gone")
    assert admin.running.call(admin.server.backlogs) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"interval": 0.01}, "params.interval: must be between 0.05 and 10.0 seconds"),
        ({"interval": "fast"}, "params.interval: expected float, got str"),
        ({"every": 1}, "params.every: unexpected"),
    ],
)
def test_a_subscription_with_bad_params_is_refused_and_the_connection_goes_on(
    admin: Admin, params: dict[str, Any], message: str
) -> None:
    with greeted(admin.path) as client:
        reply = client.call("subscribe", params)
        assert reply["error"]["code"] == "bad-params"
        assert reply["error"]["message"].startswith(message)
        assert client.result("openings") == []


def test_a_slow_subscriber_gets_merged_batches_not_a_growing_backlog(admin: Admin) -> None:
    """A subscriber that stops reading costs at most one merged batch plus the send buffer.

    Each round makes about 2000 events (some 150 bytes each as JSON); sent
    one batch per round they would add up to ``churned`` bytes.
    """

    rounds = 30

    def churn(engine: Engine) -> None:
        session = engine.session("127.0.0.6")
        for _ in range(1000):
            _, bind = engine.bind(session, Transport.TCP, ("127.0.0.1", 41000))
            assert bind is not None
            engine.close(bind)

    with greeted(admin.path) as client:
        request_id = client.request("subscribe", {"interval": 0.05})
        assert client.read() == {"id": request_id, "result": {"subscribed": True}}
        for _ in range(rounds):
            admin.running.engine_call(churn)
            time.sleep(0.06)
        wait_until(admin, lambda: admin.server.backlogs()[0].merges > 5, "batches were merged")
        [backlog] = admin.running.call(admin.server.backlogs)
        assert backlog.pending_events <= KEEP_EVENTS
        assert backlog.unsent_bytes < 2 * 1024 * 1024
        marker = make_bind(admin, 40006)
        received = batches = 0
        while True:
            line = client.raw_line()
            received += len(line)
            batches += 1
            batch = from_json(EventBatch, json.loads(line)["batch"])
            if any(bind.id == marker for bind in batch.binds):
                break
    churned = rounds * 1000 * 2 * 150
    assert received < churned / 3, "the unread batches were merged, not queued"
    assert batches < rounds / 3


def test_the_outbox_holds_one_merged_batch() -> None:
    def batch(n: int) -> EventBatch:
        event = EventSnapshot(n, float(n), "bind-created", n, 1, ())
        return EventBatch(time=float(n), events=(event,), removed_binds=(n,), kinds=(f"k{n % 3}",))

    async def scenario() -> tuple[EventBatch, int, EventBatch]:
        outbox = BatchOutbox(keep_events=10)
        for n in range(100):
            outbox.offer(batch(n))
        merged = await outbox.take()
        outbox.offer(batch(100))
        return merged, outbox.merges, await outbox.take()

    merged, merges, alone = asyncio.run(scenario())
    assert merges == 99
    assert [event.seq for event in merged.events] == list(range(90, 100))
    assert merged.removed_binds == tuple(range(100))
    assert merged.kinds == ("k0", "k1", "k2")
    assert alone == batch(100)


# -- malformed input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        pytest.param(b"\xff\xfe\n", "not UTF-8", id="garbage"),
        pytest.param(b"x" * (MAX_LINE + 1), "line longer than", id="over-long"),
        pytest.param(b'{"id": 1, "method": \n', "not JSON", id="bad-json"),
        pytest.param(b"[1]\n", "expected a JSON object", id="not-an-object"),
        pytest.param(b'{"method": "binds"}\n', "integer 'id'", id="no-id"),
    ],
)
def test_a_bad_request_is_answered_and_closes_only_that_connection(
    admin: Admin, data: bytes, words: str
) -> None:
    with greeted(admin.path) as bystander, greeted(admin.path) as client:
        client.send(data)
        reply = client.read()
        assert reply is not None
        assert reply["id"] is None
        assert reply["error"]["code"] == "bad-request"
        assert words in reply["error"]["message"]
        assert client.read() is None
        assert bystander.result("openings") == []
    with greeted(admin.path) as later:
        assert later.result("openings") == []


@pytest.mark.parametrize(
    ("method", "params", "code", "words"),
    [
        ("reboot", {}, "unknown-method", "no method 'reboot'"),
        ("stauts", {}, "unknown-method", "did you mean 'status'?"),
        ("binds", {"all": True}, "bad-params", "params.all: unexpected"),
        ("bind", {}, "bad-params", "params.id: missing"),
        ("terminate", {"bind_id": "7"}, "bad-params", "params.bind_id: expected int, got str"),
        ("recheck", {"bind_ids": [1, None]}, "bad-params", "params.bind_ids[1]: expected int"),
        ("allow", {"bind_id": 1}, "bad-params", "params.protocol: missing"),
        ("put_rules", {"toml": 5}, "bad-params", "params.toml: expected str, got int"),
    ],
)
def test_unknown_methods_and_bad_params_keep_the_connection(
    admin: Admin, method: str, params: dict[str, Any], code: str, words: str
) -> None:
    with greeted(admin.path) as client:
        reply = client.call(method, params)
        assert reply["error"]["code"] == code
        assert words in reply["error"]["message"]
        assert client.result("openings") == []


def test_an_unexpected_failure_is_logged_and_answered_internal(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*, actor: str) -> ReloadOutcome:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(admin.running.service.operations, "reload", broken)
    with caplog.at_level(logging.ERROR, logger="fwx.admin"), greeted(admin.path) as client:
        reply = client.call("reload")
        assert reply["error"] == {
            "code": "internal",
            "message": "reload failed inside the service; its log has the details",
        }
        assert client.result("openings") == []
    [record] = [r for r in caplog.records if r.name == "fwx.admin" and r.levelno == logging.ERROR]
    assert record.exc_info is not None
    assert "disk on fire" in str(record.exc_info[1])


# -- the socket file -----------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_folder_is_0700_and_the_socket_0600(admin: Admin) -> None:
    assert mode(admin.path.parent) == 0o700
    assert mode(admin.path) == 0o600
    assert stat.S_ISSOCK(os.lstat(admin.path).st_mode)


def test_an_existing_folder_of_ours_is_tightened(admin: Admin, short_dir: Path) -> None:
    folder = short_dir / "loose"
    folder.mkdir(mode=0o755)
    server = AdminServer(admin.running.service.operations, folder / "admin.sock")
    admin.running.run(server.start())
    try:
        assert mode(folder) == 0o700
    finally:
        admin.running.run(server.stop())


def test_a_stale_socket_file_is_replaced(admin: Admin, short_dir: Path) -> None:
    path = short_dir / "stale" / "admin.sock"
    path.parent.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as old:
        old.bind(os.fspath(path))
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    server = AdminServer(admin.running.service.operations, path)
    admin.running.run(server.start())
    try:
        with greeted(path) as client:
            assert client.result("openings") == []
    finally:
        admin.running.run(server.stop())
    assert not path.exists()


def test_a_live_socket_refuses_a_second_server(admin: Admin) -> None:
    second = AdminServer(admin.running.service.operations, admin.path)
    with pytest.raises(AdminSocketError) as caught:
        admin.running.run(second.start())
    assert str(caught.value) == f"another fwx service is listening on {admin.path}"
    with greeted(admin.path) as client:
        assert client.result("openings") == []


def test_a_regular_file_at_the_path_is_never_removed(admin: Admin, short_dir: Path) -> None:
    path = short_dir / "file" / "admin.sock"
    path.parent.mkdir(mode=0o700)
    path.write_text("precious")
    server = AdminServer(admin.running.service.operations, path)
    with pytest.raises(AdminSocketError, match="exists and is not a socket"):
        admin.running.run(server.start())
    assert path.read_text() == "precious"


def test_stop_leaves_a_socket_file_that_is_no_longer_ours(admin: Admin, short_dir: Path) -> None:
    path = short_dir / "mine" / "admin.sock"
    server = AdminServer(admin.running.service.operations, path)
    admin.running.run(server.start())
    path.unlink()
    path.write_text("someone else's")
    admin.running.run(server.stop())
    assert path.read_text() == "someone else's"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand a folder to another user")
def test_a_folder_owned_by_another_user_is_refused(admin: Admin, short_dir: Path) -> None:
    folder = short_dir / "theirs"
    folder.mkdir(mode=0o755)
    os.chown(folder, 65534, 65534)
    server = AdminServer(admin.running.service.operations, folder / "admin.sock")
    with pytest.raises(AdminSocketError, match="belongs to uid 65534"):
        admin.running.run(server.start())
    assert mode(folder) == 0o755


def test_a_shared_folder_is_refused_and_left_alone(admin: Admin, short_dir: Path) -> None:
    folder = short_dir / "shared"
    folder.mkdir()
    folder.chmod(0o1777)
    server = AdminServer(admin.running.service.operations, folder / "admin.sock")
    with pytest.raises(AdminSocketError, match="shared folder"):
        admin.running.run(server.start())
    assert mode(folder) == 0o1777


def test_a_path_too_long_for_a_unix_socket_is_one_line(admin: Admin, short_dir: Path) -> None:
    path = short_dir / ("x" * 120) / "admin.sock"
    server = AdminServer(admin.running.service.operations, path)
    with pytest.raises(AdminSocketError) as caught:
        admin.running.run(server.start())
    assert str(caught.value).startswith(f"cannot listen on {path}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "uid", "expected"),
    [
        ({"FWX_ADMIN_SOCKET": "/x/a.sock", "XDG_RUNTIME_DIR": "/run/user/7"}, 7, "/x/a.sock"),
        ({"XDG_RUNTIME_DIR": "/run/user/7"}, 7, "/run/user/7/fwx/admin.sock"),
        ({"XDG_RUNTIME_DIR": ""}, 0, "/run/fwx/admin.sock"),
        ({}, 1000, "/tmp/fwx-1000/admin.sock"),
    ],
)
def test_the_default_socket_path(environ: dict[str, str], uid: int, expected: str) -> None:
    assert default_socket_path(environ, uid) == Path(expected)


# -- peer credentials ----------------------------------------------------------------

CONNECT_AS_NOBODY = """
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.settimeout(5)
try:
    sock.connect(sys.argv[1])
except OSError as err:
    print(type(err).__name__)
else:
    print(sock.makefile("rb").readline().decode().strip())
    if sys.argv[2:] == ["--until-closed"]:
        print(sock.recv(1) == b"")
"""


def as_nobody(path: Path, *options: str) -> list[str]:
    """What a client running as ``nobody`` read from the socket (or why it could not connect)."""
    command = [
        "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
        sys.executable, "-c", CONNECT_AS_NOBODY, os.fspath(path), *options,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.splitlines()


needs_root_and_setpriv = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="running a client as nobody needs root and setpriv",
)


def open_to_everyone(admin: Admin) -> None:
    """Loosen the folder and socket modes: only the credential check stands in the way."""
    folder = admin.path.parent
    folder.parent.chmod(0o711)
    folder.chmod(0o711)
    admin.path.chmod(0o666)


@needs_root_and_setpriv
def test_file_modes_keep_other_users_out(admin: Admin) -> None:
    assert as_nobody(admin.path) == ["PermissionError"]


@needs_root_and_setpriv
def test_peer_credentials_refuse_another_user_and_log_it(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    open_to_everyone(admin)
    with caplog.at_level(logging.WARNING, logger="fwx.admin"):
        lines = as_nobody(admin.path, "--until-closed")
    refusal = {"code": "refused", "message": "uid 65534 (nobody) may not use this socket"}
    assert [json.loads(lines[0]), lines[1]] == [{"error": refusal}, "True"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("uid 65534 (nobody) may not use this socket" in text for text in warnings)
    with greeted(admin.path) as client:
        assert client.result("openings") == []


@needs_root_and_setpriv
def test_allowed_uids_let_another_user_in(admin: Admin, short_dir: Path) -> None:
    path = short_dir / "shared-with-nobody" / "admin.sock"
    server = AdminServer(admin.running.service.operations, path, allowed_uids=[65534])
    admin.running.run(server.start())
    try:
        short_dir.chmod(0o711)
        path.parent.chmod(0o711)
        path.chmod(0o666)
        lines = as_nobody(path)
    finally:
        admin.running.run(server.stop())
    assert json.loads(lines[0])["hello"]["actor"] == "admin:nobody(uid 65534)"


def test_stopping_with_clients_connected_ends_them_without_an_error(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    """A SIGTERM while an operator is attached must not log a loop error for the cut call."""
    caplog.set_level(logging.ERROR)
    with greeted(admin.path) as idle, greeted(admin.path) as subscriber:
        assert subscriber.result("subscribe", {"interval": 0.05}) == {"subscribed": True}
        admin.running.run(admin.server.stop())
        assert admin.server.clients == 0
        assert idle.sock.recv(1) == b""
    time.sleep(0.2)  # let the loop run the streams' done-callbacks of the cancelled tasks
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
