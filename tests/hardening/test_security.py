"""Security: loopback by default, sessions kept apart, secrets kept secret, root dropped.

* Listeners: loopback unless the rules require passwords, whichever way the
  address is given (``--listen`` or the rule file) and whichever way new
  rules arrive (SIGHUP, ``fwx rules reload``, a console or admin save).
* Sessions (R17-R20, R37, R46-R48, R92-R93, R103): one session's calls never
  allow, find or end another's binds, in the engine and on real sockets, where
  an FTP client naming another user's pending bind in ``PORT`` is refused
  (504) or served with a bind of its own, and the other bind stays pending.
* Secrets: salted scrypt, compared with ``hmac.compare_digest``, the same work
  for an unknown user; no password, hash or salt in any output, log or row.
* ``fwx serve --user nobody`` (root only): ids, capabilities, CONNECT, admin
  socket, SIGHUP and SIGTERM after the drop, a second start on the same paths.

Operators act through the admin socket only, with credentials checked: see
``tests/engine/admin/test_server.py`` (``test_file_modes_keep_other_users_out``,
``test_peer_credentials_refuse_another_user_and_log_it``,
``test_allowed_uids_let_another_user_in``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import grp
import hashlib
import hmac
import json
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
from typer.testing import CliRunner

from console.cli.main import app
from engine import (
    Bind,
    BindState,
    Engine,
    Event,
    EventKind,
    Flags,
    HResult,
    IpFilter,
    Session,
    Transport,
)
from engine.filters.base import FilterSession
from engine.service import Service, ServiceError
from engine.socks.server import ServerOptions
from rules.loader import load, loads
from rules.model import AuthMode
from rules.passwords import hash_password, verify_password
from tests.console.cli.live_service import (
    FWX,
    PASSWORD,
    USER,
    LiveService,
    fwx_env,
    live_service,
    login,
    rules_text,
    tcp_bind,
    wait_until,
)
from tests.console.test_cli_console import in_terminal
from tests.e2e.harness import RunningService
from tests.e2e.socks_client import BIND, CONNECT, SocksClient, read_exact
from tests.engine.admin.test_server import as_nobody

pytestmark = pytest.mark.timeout(60)

FTP_GUID = uuid.UUID("a5b2c3d4-0000-4000-8000-000000000021")
EXTERNAL = "127.0.0.91"
ALICE_HOST, BOB_HOST, FTP_HOST, ECHO_HOST = "127.0.0.92", "127.0.0.93", "127.0.0.94", "127.0.0.95"
WRONG = "not-the-password-4711"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)


@functools.cache
def password_hash() -> str:
    """One hash of PASSWORD for the rule files of this module (scrypt is slow on purpose)."""
    return hash_password(PASSWORD)


def public_rules(tmp_path: Path, authentication: str, listen: str = "127.0.0.1:0") -> Path:
    """A rule file listening on ``listen``; alice has a password."""
    path = tmp_path / "fwx.toml"
    path.write_text(
        f'version = 1\n[service]\nlisten = "{listen}"\nauthentication = "{authentication}"\n'
        f'[[user]]\nname = "alice"\npassword = "{password_hash()}"\n'
    )
    return path


# -- listeners: loopback unless passwords are required -------------------------------------


def test_the_default_listener_is_loopback(tmp_path: Path) -> None:
    path = tmp_path / "fwx.toml"
    path.write_text("version = 1\n")
    assert Service(path).listen == ("127.0.0.1", 1080)


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:0", "[::]:0", "192.0.2.1:1080", "[::ffff:127.0.0.1]:0"]
)
def test_a_non_loopback_listener_in_the_rule_file_needs_passwords(
    tmp_path: Path, listen: str
) -> None:
    with pytest.raises(ServiceError, match="not a loopback address"):
        Service(public_rules(tmp_path, "none", listen))
    assert Service(public_rules(tmp_path, "password", listen)).listen[0] != "127.0.0.1"


@pytest.mark.parametrize("listen", ["127.0.0.9:0", "[::1]:0"])
def test_loopback_listeners_need_no_passwords(tmp_path: Path, listen: str) -> None:
    Service(public_rules(tmp_path, "none", listen))


@pytest.mark.parametrize("command", ["serve", "console"])
def test_fwx_refuses_a_public_listen_key_in_one_line(tmp_path: Path, command: str) -> None:
    rules = public_rules(tmp_path, "none", "0.0.0.0:0")
    result = CliRunner().invoke(app, [command, "--rules", str(rules)])
    assert result.exit_code == 1
    assert result.output.startswith("fwx: refusing to listen on 0.0.0.0")
    assert len(result.output.strip().splitlines()) == 1


def test_no_reload_path_drops_passwords_on_a_public_listener(tmp_path: Path) -> None:
    """SIGHUP and `fwx rules reload` (reload), console and admin saves (put_rules) all refuse."""
    path = public_rules(tmp_path, "password", "0.0.0.0:0")
    service = Service(path)  # never started: nothing listens
    in_force, saved = service.engine.rules, path.read_text()
    without = dataclasses.replace(
        in_force, service=dataclasses.replace(in_force.service, authentication=AuthMode.NONE)
    )
    outcome = asyncio.run(service.operations.put_rules(without, actor="test"))
    assert outcome.result is HResult.E_INVALIDARG
    assert "refusing to listen on 0.0.0.0" in outcome.problems[0]
    assert load(path).service.authentication is AuthMode.PASSWORD, "the file is put back"
    path.write_text(saved.replace('"password"', '"none"'))
    reload = asyncio.run(service.operations.reload(actor="signal:SIGHUP"))
    assert reload.result is HResult.E_INVALIDARG
    assert service.engine.rules is in_force


# -- sessions: one never allows, finds or ends another's binds ------------------------------

ENGINE_RULES = f"""version = 1
[service]
external = "198.51.100.1"
[[protocol]]
name = "FTP"
guid = "{FTP_GUID}"
primary = {{ port = 21, transport = "tcp", direction = "outbound" }}
[[rule]]
name = "everyone may use everything"
action = "allow"
protocols = ["any"]
"""

OTHERS = {
    "another user on the same client": ("10.0.0.5", "alice"),
    "an anonymous session on the same client": ("10.0.0.5", None),
    "the same user on another client": ("10.0.0.6", "bob"),
}


@dataclasses.dataclass
class Owner:
    """Bob's session and binds (pending TCP, pending UDP, allowed TCP), and another session."""

    engine: Engine
    bob: Session
    other: Session
    binds: list[Bind]


@pytest.fixture(params=list(OTHERS))
def owner(request: pytest.FixtureRequest) -> Owner:
    engine = Engine(loads(ENGINE_RULES), clock=lambda: 100.0)
    bob = engine.session("10.0.0.5", "bob", authenticated=True)
    binds = []
    for transport, port in ((Transport.TCP, 40000), (Transport.UDP, 40001), (Transport.TCP, 40002)):
        _, bind = engine.bind(bob, transport, ("198.51.100.1", port))
        assert bind is not None
        binds.append(bind)
    server_only = IpFilter.from_specs(["203.0.113.7"])
    allowed = engine.retroactive_allow_bind(
        bob, 6, binds[2].address, None, FTP_GUID, 0, server_only
    )
    assert allowed is HResult.S_OK
    client, user = OTHERS[request.param]
    return Owner(engine, bob, engine.session(client, user, authenticated=user is not None), binds)


def state(owner: Owner) -> dict[str, Any]:
    """Everything about bob's binds another session could change, and the openings."""
    fields = ("state", "protocol", "flags", "allowed_by", "allowed_at", "accepted")
    return {
        "binds": [tuple(getattr(bind, name) for name in fields) for bind in owner.binds],
        "ip_filters": [id(bind.ip_filter) for bind in owner.binds],
        "discards": [bind.discarded_total for bind in owner.binds],
        "openings": owner.engine.openings(),
    }


def test_r19_r20_another_session_cannot_allow_or_find_a_bind(owner: Owner) -> None:
    """R18-R20: exact address or INADDR_ANY, any flags: NOT_FOUND, and nothing changes."""
    engine, before = owner.engine, state(owner)
    events = engine.subscribe()
    for bind in owner.binds:
        flags = (0, int(Flags.BIDIRECTIONAL)) if bind.transport is Transport.UDP else (0,)
        for address in (bind.address, ("0.0.0.0", bind.address[1])):
            assert engine.find_bind(owner.other, int(bind.transport), address) is None
            for flag in flags:
                result = engine.retroactive_allow_bind(
                    owner.other, int(bind.transport), address, None, FTP_GUID, flag, None
                )
                assert result is HResult.NOT_FOUND
    assert state(owner) == before
    seen = [event for event in events.drain() if isinstance(event, Event)]
    assert {event.kind for event in seen} == {EventKind.ALLOW_REFUSED}
    assert {(event.session_id, event.bind_id) for event in seen} == {(owner.other.id, None)}


def test_r37_another_session_cannot_take_a_binds_address(owner: Owner) -> None:
    """A bind of its own or a BindForClient on bob's address: E_INVALIDARG, nothing created."""
    engine, before = owner.engine, state(owner)
    for bind in owner.binds:
        assert engine.bind(owner.other, bind.transport, bind.address) == (
            HResult.E_INVALIDARG,
            None,
        )
    for bind in owner.binds[::2]:
        taken = engine.bind_for_client(
            owner.other, Transport.TCP, [("10.0.0.5", 5000)], bind.address, FTP_GUID, 0, None,
            actor="filter:ftp",
        )  # fmt: skip
        assert taken == (HResult.E_INVALIDARG, None)
    assert state(owner) == before
    assert len(engine.binds()) == 3


def test_r46_r48_a_future_connect_to_a_bind_opens_nothing(owner: Owner) -> None:
    """AllowFutureConnect is a permission for the caller's own outbound connection only."""
    engine, before = owner.engine, state(owner)
    pending = owner.binds[0]
    result = engine.allow_future_connect(
        owner.other, pending.address, Transport.TCP, FTP_GUID, actor="filter:ftp"
    )
    assert result is HResult.S_OK
    assert [permission.session_id for permission in engine.future_connects()] == [owner.other.id]
    verdict = engine.inbound(Transport.TCP, pending.address, ("198.51.100.1", 50000))
    assert not verdict.accepted
    assert verdict.reason == "pending"
    after = state(owner)
    assert after["discards"] == [before["discards"][0] + 1, *before["discards"][1:]]
    assert {**after, "discards": None} == {**before, "discards": None}


def test_r103_ending_another_session_leaves_the_binds(owner: Owner) -> None:
    engine, before = owner.engine, state(owner)
    _, own = engine.bind(owner.other, Transport.TCP, ("198.51.100.1", 40100))
    assert own is not None
    assert engine.terminate(own) is HResult.S_OK
    engine.end_session(owner.other)
    assert state(owner) == before
    assert all(bind.state.live for bind in owner.binds)


def test_a_filter_acts_only_through_its_own_sessions_three_methods(owner: Owner) -> None:
    """A filter gets no engine, no bind list and no terminate: only the session's calls."""

    class NoBinder:
        def bind_for_client(self, *args: object) -> tuple[HResult, None]:
            raise AssertionError("the filter must not reach bind_for_client here")

    session = FilterSession(
        owner.engine, owner.other, protocol=FTP_GUID, client=("10.0.0.5", 2000),
        server=("203.0.113.7", 21), external="198.51.100.1", actor="filter:ftp",
        binder=NoBinder(),
    )  # fmt: skip
    methods = {
        name
        for name in dir(session)
        if not name.startswith("_") and callable(getattr(session, name))
    }
    assert methods == {"retroactive_allow_bind", "bind_for_client", "allow_future_connect"}
    before = state(owner)
    for bind in owner.binds[::2]:
        result = session.retroactive_allow_bind(Transport.TCP, bind.address, FTP_GUID, 0, None)
        assert result is HResult.NOT_FOUND
    assert state(owner) == before


# -- sessions on real sockets: an FTP client naming another user's bind -----------------------


@dataclasses.dataclass
class Ftp:
    """The FTP server on 127.0.0.94: its port and the active-mode commands it received."""

    port: int
    seen: list[str]


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[Ftp]:
    """pyftpdlib on 127.0.0.94 (user ``ftp``); it trusts any PORT, so only fwx can refuse one."""
    authorizer = DummyAuthorizer()
    authorizer.add_user("ftp", "ftp secret", str(tmp_path), perm="elr")
    seen: list[str] = []

    class Handler(FTPHandler):
        permit_foreign_addresses = True

        def ftp_PORT(self, line: str) -> Any:
            seen.append(f"PORT {line}")
            return super().ftp_PORT(line)

        def ftp_EPRT(self, line: str) -> Any:
            seen.append(f"EPRT {line}")
            return super().ftp_EPRT(line)

    Handler.authorizer = authorizer
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    server = FTPServer((FTP_HOST, 0), Handler)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.02, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, name="ftp-server")
    thread.start()
    try:
        yield Ftp(server.address[1], seen)
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def firewall(tmp_path: Path, ftp_server: Ftp) -> Iterator[RunningService]:
    """fwx with passwords (alice, bob), binds on 127.0.0.91, FTP filtered and allowed to all."""
    path = tmp_path / "rules.toml"
    users = "".join(
        f'[[user]]\nname = "{name}"\npassword = "{password_hash()}"\n' for name in ("alice", "bob")
    )
    path.write_text(
        f'version = 1\n[service]\nexternal = "{EXTERNAL}"\nauthentication = "password"\n'
        f'[[protocol]]\nname = "FTP"\nguid = "{FTP_GUID}"\nfilter = "ftp"\n'
        f'primary = {{ port = {ftp_server.port}, transport = "tcp", direction = "outbound" }}\n'
        f'{users}[[rule]]\nname = "FTP for all"\naction = "allow"\nprotocols = ["FTP"]\n'
    )
    running = RunningService(path, ServerOptions(phase_timeout=5.0), 1.0)
    try:
        yield running
    finally:
        running.stop()


def logged_in(firewall: RunningService, user: str, source: str) -> SocksClient:
    client = SocksClient(firewall.address, source=source)
    assert client.greet(b"\x02") == 2
    assert client.login(user, PASSWORD) == 0
    return client


class FtpControl:
    """An FTP control connection through a logged-in SOCKS client, one line at a time."""

    def __init__(self, client: SocksClient, port: int) -> None:
        assert client.request(CONNECT, FTP_HOST, port).code == 0
        self._lines = client.sock.makefile("rb")
        self._sock = client.sock
        assert self.reply().startswith("220")
        assert self.send("USER ftp").startswith("331")
        assert self.send("PASS ftp secret").startswith("230")

    def reply(self) -> str:
        """The next final reply line (multi-line and 1xx preliminary replies skipped)."""
        while True:
            line = self._lines.readline().decode()
            if re.match(r"^[2-5]\d\d ", line):
                return line.rstrip("\r\n")
            if not line:
                raise EOFError("the control connection closed")

    def send(self, command: str) -> str:
        self._sock.sendall(command.encode() + b"\r\n")
        return self.reply()


def port_command(address: tuple[str, int]) -> str:
    host, port = address
    return f"PORT {host.replace('.', ',')},{port >> 8},{port & 255}"


def test_r92_r19_a_port_naming_another_users_bind_is_refused_and_the_bind_stays_pending(
    firewall: RunningService, ftp_server: Ftp, caplog: pytest.LogCaptureFixture
) -> None:
    """The filter acts for alice's session: NOT_FOUND, and a third party's address (a bounce)."""
    with (
        logged_in(firewall, "bob", BOB_HOST) as bob,
        logged_in(firewall, "alice", ALICE_HOST) as alice,
    ):
        first = bob.request(BIND, "0.0.0.0", 0)
        assert first.code == 0
        events = firewall.engine_call(lambda engine: engine.subscribe())
        control = FtpControl(alice, ftp_server.port)
        with caplog.at_level(logging.WARNING, logger="fwx.filters.ftp"):
            refused = control.send(port_command(first.address))
            eprt = control.send(f"EPRT |1|{first.host}|{first.port}|")
        assert refused.startswith("504 PORT refused by the firewall: a third party's address")
        assert eprt.startswith("504 EPRT refused by the firewall: a third party's address")
        assert ftp_server.seen == [], "the refused commands never reach the server"
        assert sum("refused PORT" in r.getMessage() for r in caplog.records) == 1
        bind = firewall.bind_at(first.address)
        assert (bind.state, bind.allowed_by, bind.session.user) == (BindState.PENDING, None, "bob")
        assert firewall.engine_call(lambda engine: engine.openings()) == []
        refusals = [
            event
            for event in firewall.call(events.drain)
            if isinstance(event, Event) and event.kind is EventKind.ALLOW_REFUSED
        ]
        assert [(e.detail["result"], e.detail["actor"]) for e in refusals] == [
            ("NOT_FOUND", "filter:ftp")
        ] * 2
        assert all(e.session_id != bind.session.id for e in refusals)
        with socket.create_connection(first.address, source_address=(FTP_HOST, 0)) as knock:
            knock.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert knock.recv(1) == b""
        firewall.wait_for(lambda engine: bind.discarded_total == 1, "the knock is discarded")
        assert bob.quiet(), "bob gets no second reply"


def test_r93_a_port_naming_another_users_bind_from_its_host_gets_a_bind_of_its_own(
    firewall: RunningService, ftp_server: Ftp
) -> None:
    """From the bind's own host it reads as the client's listener: BindForClient, rewritten
    PORT; the server's data connection (pyftpdlib connects at once) is forwarded to bob's bind,
    which discards it as any inbound attempt."""
    with (
        logged_in(firewall, "bob", BOB_HOST) as bob,
        logged_in(firewall, "alice", EXTERNAL) as alice,
    ):
        first = bob.request(BIND, "0.0.0.0", 0)
        control = FtpControl(alice, ftp_server.port)
        assert control.send(port_command(first.address)).startswith("200")
        [rewritten] = ftp_server.seen
        assert rewritten != port_command(first.address)
        bind = firewall.bind_at(first.address)
        firewall.wait_for(
            lambda engine: bind.discarded_total >= 1, "the forwarded try is discarded"
        )
        assert (bind.state, bind.allowed_by) == (BindState.PENDING, None)
        assert bob.quiet(), "bob gets no second reply"


# -- secrets: salted scrypt, constant-time, the same work for anyone; never shown ------------


def test_hashes_are_salted_scrypt_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    encoded = hash_password(PASSWORD)
    scheme, n, r, p, salt, _ = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert salt != hash_password(PASSWORD).split("$")[4], "a fresh salt every time"
    assert verify_password(PASSWORD, encoded)
    assert not verify_password(WRONG, encoded)
    assert len(compared) == 2
    assert all(len(a) == len(b) == 32 for a, b in compared)


def raw_login(firewall: RunningService, user: bytes, password: bytes) -> tuple[int, bytes]:
    """An RFC 1929 exchange with exact bytes: the STATUS byte, and what came after it."""
    with SocksClient(firewall.address, source=ALICE_HOST) as client:
        assert client.greet(b"\x02") == 2
        client.sock.sendall(
            b"\x01" + bytes((len(user),)) + user + bytes((len(password),)) + password
        )
        version, status = read_exact(client.sock, 2)
        assert version == 1
        return status, client.until_closed()


def test_r105_an_unknown_user_costs_what_a_wrong_password_costs(
    firewall: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One scrypt with the rule file's costs for each failure, the same reply, no session."""
    raw_login(firewall, b"mallory", b"warm up the dummy hash")
    calls: list[tuple[int, int, int, int]] = []
    original = hashlib.scrypt

    def spy(
        password: bytes, *, salt: bytes, n: int, r: int, p: int, maxmem: int, dklen: int
    ) -> bytes:
        calls.append((n, r, p, dklen))
        return original(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)

    monkeypatch.setattr(hashlib, "scrypt", spy)
    attempts = [
        (b"alice", WRONG.encode()),
        (b"mallory", PASSWORD.encode()),
        (b"alice", b"\xff\xfe"),
    ]
    for user, password in attempts:
        calls.clear()
        assert raw_login(firewall, user, password) == (1, b"")
        assert calls == [(16384, 8, 1, 32)], user
    assert firewall.engine_call(lambda engine: engine.sessions()) == []


def secrets_of(rules_file: str) -> dict[str, str]:
    """The password, a wrong one tried, and alice's hash with its salt and digest (also in hex)."""
    [encoded] = re.findall(r'password = "(scrypt\$[^"]+)"', rules_file)
    salt, digest = encoded.split("$")[4:]
    found = {"password": PASSWORD, "wrong password": WRONG, "hash": encoded}
    for name, part in (("salt", salt), ("digest", digest)):
        found[name] = part
        found[f"{name} (hex)"] = base64.b64decode(part).hex()
    return found


def test_no_password_hash_or_salt_is_ever_printed_logged_or_recorded(tmp_path: Path) -> None:
    with live_service() as service:
        secrets = secrets_of(service.rules.read_text())
        outputs: dict[str, str] = {}
        with login(service), tcp_bind(service) as (_, (_, port)):
            for user, password in ((USER, WRONG), ("mallory", PASSWORD), (PASSWORD, PASSWORD)):
                with SocksClient(service.address, source="127.0.0.72") as client:
                    client.greet(b"\x02")
                    assert client.login(user, password) == 1
            rules = str(service.rules)
            for command in (
                ["status", "--json"], ["binds", "list", "--json"], ["sessions", "list", "--json"],
                ["rules", "show", rules], ["rules", "show", rules, "--json"],
            ):  # fmt: skip
                result = service.cli(*command)
                assert result.exit_code == 0, result.output
                outputs[" ".join(command)] = result.output
            ready = re.compile(rf":{port} +PENDING")
            code, screen = in_terminal(
                ["--attach", str(service.socket)], tmp_path, lambda text: bool(ready.search(text))
            )
            assert code == 0
            outputs["console --attach"] = screen
        assert service.stop() == 0
        for command in (["log", "--json", "--limit", "1000"], ["log", "--limit", "1000"]):
            outputs[" ".join(command)] = service.cli(*command).output
        outputs["serve log"] = service.log_text()
        audit = b"".join(path.read_bytes() for path in service.audit.parent.iterdir())
    rows = [json.loads(line) for line in outputs["log --json --limit 1000"].splitlines()]
    assert rows[-1]["kind"] == "service-stopped", "the audit log was read to its end"
    for where, text in outputs.items():
        for name, secret in secrets.items():
            assert secret not in text, f"the {name} appears in {where}"
    for name, secret in secrets.items():
        assert secret.encode() not in audit, f"the {name} appears in the audit file"


def test_the_admin_get_rules_sends_no_password_hash() -> None:
    with live_service() as service:
        secrets = secrets_of(service.rules.read_text())
        with socket.socket(socket.AF_UNIX) as admin:
            admin.settimeout(10)
            admin.connect(str(service.socket))
            lines = admin.makefile("rwb")
            lines.readline()
            lines.write(b'{"id": 1, "method": "get_rules"}\n')
            lines.flush()
            answer = lines.readline().decode()
    assert '"toml"' in answer
    assert [name for name, secret in secrets.items() if secret in answer] == []


# -- fwx serve --user: root only, dropped for good once listening ------------------------------

ECHO_RULES = """
[[protocol]]
name = "Echo"
guid = "a5b2c3d4-0000-4000-8000-00000000e142"
primary = {{ port = {port}, transport = "tcp", direction = "outbound" }}

[[rule]]
name = "loopback may echo"
action = "allow"
protocols = ["Echo"]
clients = ["loopback"]
"""

SEVEN = """
[[protocol]]
name = "Seven"
guid = "a5b2c3d4-0000-4000-8000-00000000e143"
primary = { port = 7, transport = "tcp", direction = "outbound" }
"""


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A TCP echo server on 127.0.0.95."""
    server = socketserver.ThreadingTCPServer((ECHO_HOST, 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield ECHO_HOST, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder under /tmp that nobody may enter and read (0755); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="fwx-u-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def serving_as(folder: Path, user: str, audit: Path | None = None) -> Iterator[LiveService]:
    """`fwx serve --user USER` (as root) on 127.0.0.91 with its files in ``folder``."""
    rules, socket_path = folder / "fwx.toml", folder / "admin" / "admin.sock"
    audit = audit or folder / "audit" / "audit.sqlite"
    command = [str(FWX), "serve", "--rules", str(rules), "--listen", f"{EXTERNAL}:0"]
    command += ["--external", EXTERNAL, "--socket", str(socket_path), "--audit", str(audit)]
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--user", user], env=fwx_env(), stdout=log, stderr=log
        )
    service = LiveService(folder, rules, socket_path, audit, process)
    try:
        yield service
    finally:
        try:
            service.stop()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def started(service: LiveService) -> dict[str, Any]:
    """Wait until the service answers root on its admin socket; its status."""

    def status() -> dict[str, Any] | None:
        if service.process.poll() is not None:
            raise AssertionError(f"fwx serve exited:\n{service.log_text()}")
        result = service.cli("status", "--json")
        return json.loads(result.stdout) if result.exit_code == 0 else None

    found = wait_until(status, "fwx serve answers root on its socket")
    host, _, port = found["listen"].rpartition(":")
    service.address = (host, int(port))
    return found


def proc_status(pid: int) -> dict[str, list[str]]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.split() for key, _, value in (line.partition(":") for line in lines)}


def nobody() -> tuple[int, int, str]:
    """The uid, gid and group name of ``nobody``."""
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid, grp.getgrgid(entry.pw_gid).gr_name


@needs_root
def test_fwx_serve_user_nobody_drops_root_once_listening(
    open_folder: Path, echo: tuple[str, int]
) -> None:
    uid, gid, group = nobody()
    rules = open_folder / "fwx.toml"
    rules.write_text(rules_text(ECHO_RULES.format(port=echo[1])))
    rules.chmod(0o644)
    with serving_as(open_folder, "nobody") as service:
        started(service)
        assert f"running as nobody:{group} (uid {uid}, gid {gid})" in service.log_text()
        ids = proc_status(service.process.pid)
        assert ids["Uid"] == [str(uid)] * 4
        assert ids["Gid"] == [str(gid)] * 4
        assert ids["Groups"] == []
        assert [int(ids[name][0], 16) for name in ("CapPrm", "CapEff", "CapAmb")] == [0, 0, 0]
        with login(service, ALICE_HOST) as client:  # scrypt and its thread pool, after the drop
            assert client.request(CONNECT, *echo).code == 0
            client.sock.sendall(b"still forwarding")
            assert read_exact(client.sock, 16) == b"still forwarding"
        with login(service, ALICE_HOST) as client:
            assert client.request(BIND, "0.0.0.0", 0).code == 0
        with login(service, ALICE_HOST) as client:  # a host name: resolved after the drop
            assert client.request(CONNECT, "localhost", echo[1]).code in (0, 5)
        refusal = json.loads(as_nobody(service.socket)[0])["error"]
        assert refusal["message"] == f"uid {uid} (nobody) may not use this socket"
        rules.write_text(rules.read_text() + SEVEN)
        service.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "1 protocol added" in service.log_text(), "SIGHUP reloads as nobody")
        assert service.stop() == 0
    log = service.log_text()
    assert log.rstrip().endswith(" stopped")
    assert "error" not in log
    assert "Traceback" not in log
    assert not service.socket.exists(), "nobody removed its socket"
    rows = [json.loads(line) for line in service.cli("log", "--json").stdout.splitlines()]
    assert [row["kind"] for row in rows][-1] == "service-stopped"
    assert any(row["actor"] == "signal:SIGHUP" for row in rows)
    assert (service.audit.stat().st_uid, service.audit.parent.stat().st_uid) == (uid, uid)


@needs_root
def test_a_second_run_takes_its_folder_back_and_warns_of_an_unreadable_rule_file(
    open_folder: Path,
) -> None:
    rules = open_folder / "fwx.toml"
    rules.write_text(rules_text())
    rules.chmod(0o644)
    with serving_as(open_folder, "nobody") as first:
        started(first)
    rules.chmod(0o600)
    with serving_as(open_folder, "nobody") as second:
        started(second)
        wait_until(lambda: "cannot read the rule file" in second.log_text(), "a warning")
        second.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload refused" in second.log_text(), "the reload is refused")
        assert second.stop() == 0
    warnings = [line for line in second.log_text().splitlines() if "warning:" in line]
    assert any(f"nobody cannot read the rule file {rules}" in line for line in warnings)
    assert any("cannot read the file: Permission denied" in line for line in warnings)


@needs_root
def test_a_path_nobody_cannot_reach_is_refused_before_the_drop(open_folder: Path) -> None:
    (open_folder / "fwx.toml").write_text(rules_text())
    private = open_folder / "private"
    private.mkdir(mode=0o700)
    (private / "notes.txt").write_text("not the audit log's folder: it stays root's")
    audit = private / "audit.sqlite"
    with serving_as(open_folder, "nobody", audit) as service:
        assert service.process.wait(30) == 3
    lines = service.log_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines if "error:" in line] == [
        f"error: nobody cannot reach {audit}; give it access or move it"
    ]
    assert "running as" not in service.log_text()
    assert not service.socket.exists()
    assert private.stat().st_uid == 0


@pytest.mark.parametrize(
    ("user", "euid", "message"),
    [
        ("nobody", 1000, "--user needs root: only root can change its user"),
        ("no-such-user", 0, "--user: no user 'no-such-user'"),
        ("nobody:no-such-group", 0, "--user: no group 'no-such-group'"),
        ("root", 0, "--user root: uid and gid must not be 0 (that keeps root's power)"),
    ],
)
def test_user_is_refused_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, user: str, euid: int, message: str
) -> None:
    rules = tmp_path / "fwx.toml"
    rules.write_text("version = 1\n")
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    result = CliRunner().invoke(app, ["serve", "--rules", str(rules), "--user", user])
    assert (result.exit_code, result.output) == (2, f"fwx: {message}\n")
