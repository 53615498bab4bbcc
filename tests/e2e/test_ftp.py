"""FTP through fwx with the ``ftp`` filter: a real server (pyftpdlib) and a real client (ftplib).

The server runs on 127.0.0.2 in a thread; the client is ftplib with its
connections made through the service: the control connection by SOCKS
CONNECT (python-socks), the data connections by SOCKS BIND (active mode,
the retroactive path), by ftplib's own listener (active mode with the
client's own address, the ``bind_for_client`` path) or by CONNECT (passive
mode). Reference rules R46, R47, R92-R94; §12.1 for the bounce refusal.
"""

from __future__ import annotations

import ftplib
import hashlib
import io
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
from python_socks import ProxyError
from python_socks.sync import Proxy

from engine import Bind, BindState, Engine, Event, EventKind, Subscription
from engine.socks.server import ServerOptions
from tests.e2e.harness import FTP_GUID, WAIT, RunningService
from tests.e2e.socks_client import BIND, TIMEOUT, SocksClient

pytestmark = pytest.mark.timeout(90)

SERVER_HOST = "127.0.0.2"
STRANGER = "127.0.0.3"
USER, PASSWORD = "ftpuser", "ftp secret"
SIZE = 5 * 1024 * 1024


@dataclass
class FtpServer:
    """The pyftpdlib server: where it listens, its root, and what PORT/EPRT lines it saw."""

    port: int
    root: Path
    gate: threading.Event
    """Set: active-mode commands are served at once; clear: they wait until it is set."""
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[FtpServer]:
    """An FTP server on 127.0.0.2 serving a 5 MiB random file; always stopped."""
    root = tmp_path / "ftp"
    root.mkdir()
    (root / "blob.bin").write_bytes(os.urandom(SIZE))
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
    gate = threading.Event()
    gate.set()
    seen: list[str] = []

    class Handler(FTPHandler):
        def ftp_PORT(self, line: str) -> Any:
            seen.append(f"PORT {line}")
            gate.wait(WAIT)
            return super().ftp_PORT(line)

        def ftp_EPRT(self, line: str) -> Any:
            seen.append(f"EPRT {line}")
            gate.wait(WAIT)
            return super().ftp_EPRT(line)

    Handler.authorizer = authorizer
    Handler.permit_foreign_addresses = True  # only the firewall stands against a bounce here
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    server = FTPServer((SERVER_HOST, 0), Handler)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.02, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, name="ftp-server")
    thread.start()
    try:
        yield FtpServer(server.address[1], root, gate, seen)
    finally:
        gate.set()
        stop.set()
        thread.join(WAIT)


@pytest.fixture
def firewall(tmp_path: Path, ftp_server: FtpServer) -> Iterator[RunningService]:
    """fwx with one protocol, FTP on the server's port with ``filter = "ftp"``, allowed to all."""
    path = tmp_path / "rules.toml"
    path.write_text(
        "\n".join([
            "version = 1",
            "[service]",
            'listen = "127.0.0.1:0"',
            'external = "127.0.0.1"',
            "[[protocol]]",
            'name = "FTP"',
            f'guid = "{FTP_GUID}"',
            f'primary = {{ port = {ftp_server.port}, transport = "tcp", direction = "outbound" }}',
            'filter = "ftp"',
            "[[rule]]",
            'name = "everyone may use FTP"',
            'action = "allow"',
            'protocols = ["FTP"]',
        ]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    running = RunningService(path, ServerOptions(phase_timeout=2.0, connect_timeout=2.0), 1.0)
    try:
        yield running
    finally:
        running.stop()


class SocksFtp(ftplib.FTP):
    """ftplib's client whose every connection goes through the SOCKS service.

    ``mode``: ``bind`` (SOCKS BIND, then PORT naming it), ``bind-eprt`` (the
    same with EPRT), ``own`` (ftplib listens itself and sends its own
    address), ``pasv`` or ``epsv`` (passive, data by SOCKS CONNECT).
    """

    def __init__(self, proxy: tuple[str, int], mode: str) -> None:
        super().__init__(timeout=TIMEOUT)
        self.proxy = Proxy.from_url(f"socks5://{proxy[0]}:{proxy[1]}")
        self.proxy_address = proxy
        self.mode = mode
        self.set_pasv(mode in ("pasv", "epsv"))

    def connect(self, host: str = "", port: int = 0, *args: Any, **kwargs: Any) -> str:
        self.host, self.port = host, port
        self.sock = self.proxy.connect(host, port, timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[Any, int | None]:
        if self.mode == "own":
            return super().ntransfercmd(cmd, rest)
        if self.mode in ("bind", "bind-eprt"):
            data = self.bind_data()
            self.transfer(cmd, rest)
            second = data.read_reply()
            assert (second.code, second.host) == (0, SERVER_HOST)
            return data.sock, None
        conn = self.proxy.connect(self.host, self.passive_port(), timeout=TIMEOUT)
        conn.settimeout(TIMEOUT)
        self.transfer(cmd, rest)
        return conn, None

    def bind_data(self) -> SocksClient:
        """A SOCKS BIND towards the server, advertised to it with PORT or EPRT."""
        data = SocksClient(self.proxy_address)
        data.greet()
        first = data.request(BIND, self.host, 0)
        assert first.code == 0
        if self.mode == "bind-eprt":
            self.sendeprt(first.host, first.port)
        else:
            self.sendport(first.host, first.port)
        return data

    def passive_port(self) -> int:
        if self.mode == "epsv":
            return ftplib.parse229(self.sendcmd("EPSV"), ("", 0))[1]
        return ftplib.parse227(self.sendcmd("PASV"))[1]

    def transfer(self, cmd: str, rest: int | str | None) -> None:
        """Send the transfer command and expect its preliminary reply."""
        if rest is not None:
            self.sendcmd(f"REST {rest}")
        resp = self.sendcmd(cmd)
        if resp[0] == "2":
            resp = self.getresp()
        if resp[0] != "1":
            raise ftplib.error_reply(resp)


def log_in(firewall: RunningService, ftp_server: FtpServer, mode: str) -> SocksFtp:
    ftp = SocksFtp(firewall.address, mode)
    ftp.connect(SERVER_HOST, ftp_server.port)
    ftp.login(USER, PASSWORD)
    return ftp


def subscribe(firewall: RunningService) -> Callable[[], list[Event]]:
    """Start listening to the engine's events; the function returns those so far."""
    subscription: Subscription = firewall.engine_call(lambda engine: engine.subscribe())
    seen: list[Event] = []

    def events() -> list[Event]:
        drained = firewall.call(subscription.drain)
        seen.extend(event for event in drained if isinstance(event, Event))
        return seen

    return events


def binds_of_the_filter(engine: Engine) -> list[Bind]:
    return [bind for bind in engine.binds() if bind.allowed_by == "filter:ftp"]


def filter_binds(firewall: RunningService) -> list[Bind]:
    return firewall.engine_call(binds_of_the_filter)


@pytest.mark.parametrize("mode", ["bind", "bind-eprt", "own", "pasv", "epsv"])
def test_r92_r93_r46_a_5_mib_file_goes_up_and_down_in_every_mode(
    firewall: RunningService, ftp_server: FtpServer, mode: str
) -> None:
    """R92 (bind, bind-eprt: BIND + PORT/EPRT, retroactive), R93 (own: bind_for_client and a
    rewritten PORT), R46/R47 (pasv, epsv: allow_future_connect); every approval by filter:ftp."""
    events = subscribe(firewall)
    original = (ftp_server.root / "blob.bin").read_bytes()
    with log_in(firewall, ftp_server, mode) as ftp:
        received = io.BytesIO()
        ftp.retrbinary("RETR blob.bin", received.write, blocksize=65536)
        assert hashlib.sha256(received.getvalue()).digest() == hashlib.sha256(original).digest()
        ftp.storbinary("STOR up.bin", io.BytesIO(original), blocksize=65536)
    uploaded = (ftp_server.root / "up.bin").read_bytes()
    assert hashlib.sha256(uploaded).digest() == hashlib.sha256(original).digest()

    kind = EventKind.FUTURE_CONNECT_GRANTED if mode in ("pasv", "epsv") else EventKind.BIND_ALLOWED
    approvals = [event for event in events() if event.kind is kind]
    assert len(approvals) == 2
    assert {event.detail["actor"] for event in approvals} == {"filter:ftp"}
    if kind is EventKind.BIND_ALLOWED:
        assert {event.detail["ip_filter"] for event in approvals} == {SERVER_HOST}
    if mode in ("pasv", "epsv"):
        used = [event for event in events() if event.kind is EventKind.FUTURE_CONNECT_USED]
        assert len(used) == 2


def test_r93_the_client_address_is_rewritten_to_a_forwarding_bind(
    firewall: RunningService, ftp_server: FtpServer
) -> None:
    """R93: PORT with the client's own address reaches the server naming the external bind."""
    with log_in(firewall, ftp_server, "own") as ftp:
        listener = ftp.makeport()
        with listener:
            own_port = listener.getsockname()[1]
            (bind,) = filter_binds(firewall)
            assert bind.client_addresses == (("127.0.0.1", own_port),)
            assert bind.address[1] != own_port
            host, port = bind.address
            assert ftp_server.seen == [f"PORT {host.replace('.', ',')},{port >> 8},{port & 255}"]
            peer, _ = listener.accept()
            peer.close()


def port_command(address: tuple[str, int]) -> str:
    host, port = address
    return f"PORT {host.replace('.', ',')},{port >> 8},{port & 255}"


def knock_reset(address: tuple[str, int], source: str) -> None:
    """A connection from ``source`` to ``address`` is reset (while or right after connecting)."""

    def attempt(sock: socket.socket) -> None:
        sock.connect(address)
        sock.recv(1)

    with socket.socket() as sock:
        sock.settimeout(WAIT)
        sock.bind((source, 0))
        with pytest.raises(ConnectionResetError):
            attempt(sock)


def the_filter_bind(firewall: RunningService) -> Bind:
    firewall.wait_for(lambda engine: len(binds_of_the_filter(engine)) == 1, "the filter's approval")
    (bind,) = filter_binds(firewall)
    return bind


@pytest.mark.parametrize("mode", ["bind", "own"])
def test_r94_only_the_ftp_server_may_connect_to_the_approved_data_address(
    firewall: RunningService, ftp_server: FtpServer, mode: str
) -> None:
    """R94 (R28, R101): after the PORT is approved, 127.0.0.3 is reset; 127.0.0.2 gets in.

    ``bind``: the client's SOCKS BIND (retroactive path); ``own``: the
    firewall's listener forwarding to the client (bind_for_client path).
    The server is held back from connecting until the stranger has tried.
    """
    with log_in(firewall, ftp_server, mode) as ftp:
        ftp.voidcmd("TYPE I")
        ftp_server.gate.clear()
        if mode == "bind":
            socks = SocksClient(firewall.address)
            socks.greet()
            advertised = socks.request(BIND, SERVER_HOST, 0).address
        else:
            listener = socket.create_server(("127.0.0.1", 0))
            advertised = listener.getsockname()
        ftp.putcmd(port_command(advertised))
        bind = the_filter_bind(firewall)
        assert firewall.engine_call(lambda _: bind.state) is BindState.ALLOWED
        knock_reset(bind.address, STRANGER)
        firewall.wait_for(lambda _: bind.discarded == {"ip-filter": 1}, "the stranger's discard")
        if mode == "bind":
            assert socks.quiet()
        ftp_server.gate.set()
        assert ftp.getresp().startswith("200")
        if mode == "bind":
            second = socks.read_reply()
            assert (second.code, second.host) == (0, SERVER_HOST)
            data = socks.sock
        else:
            data, _ = listener.accept()
            listener.close()
        ftp.sendcmd("RETR blob.bin")
        with data:
            data.settimeout(TIMEOUT)
            received = b"".join(iter(lambda: data.recv(65536), b""))
        ftp.voidresp()
    assert received == (ftp_server.root / "blob.bin").read_bytes()
    assert firewall.engine_call(lambda _: bind.accepted) == 1


@pytest.mark.parametrize(
    "command",
    ["PORT 127,0,0,9,195,80", "EPRT |1|127.0.0.9|50000|", "PORT 127,0,0,1,0,25"],
    ids=["third-party-port", "third-party-eprt", "privileged-port"],
)
def test_a_bounce_is_refused_with_an_ftp_error_and_opens_nothing(
    firewall: RunningService,
    ftp_server: FtpServer,
    caplog: pytest.LogCaptureFixture,
    command: str,
) -> None:
    """§12.1 step 4, RFC 2577: a PORT/EPRT naming a third party (127.0.0.9) or a privileged
    port never reaches the server; the client gets a 504; no bind, opening or permission."""
    events = subscribe(firewall)
    with log_in(firewall, ftp_server, "pasv") as ftp:
        with pytest.raises(ftplib.error_perm, match=r"^504 .*refused by the firewall"):
            ftp.sendcmd(command)
        assert ftp.sendcmd("NOOP").startswith("200")
        assert ftp_server.seen == []
        assert firewall.engine_call(lambda engine: engine.binds()) == []
        assert firewall.engine_call(lambda engine: engine.openings()) == []
        assert firewall.engine_call(lambda engine: engine.future_connects()) == []
    assert not [event for event in events() if event.kind is EventKind.BIND_ALLOWED]
    assert any(
        "refused" in r.getMessage() and "FTP bounce" in r.getMessage() for r in caplog.records
    )


def test_r46_r47_a_passive_reply_opens_one_connection_to_the_server_only(
    firewall: RunningService, ftp_server: FtpServer
) -> None:
    """R46: one outbound connection to the address the 227 named (no rule covers that port);
    R47: the permission carries a time-out; a second connection is refused by the rules."""
    events = subscribe(firewall)
    with log_in(firewall, ftp_server, "pasv") as ftp:
        port = ftplib.parse227(ftp.sendcmd("PASV"))[1]
        (permission,) = firewall.engine_call(lambda engine: engine.future_connects())
        assert permission.destination == (SERVER_HOST, port)
        assert permission.expires is not None
        with (
            ftp.proxy.connect(SERVER_HOST, port, timeout=TIMEOUT),
            pytest.raises(ProxyError),
        ):
            ftp.proxy.connect(SERVER_HOST, port, timeout=TIMEOUT)
    (granted,) = [event for event in events() if event.kind is EventKind.FUTURE_CONNECT_GRANTED]
    assert granted.detail["actor"] == "filter:ftp"
    assert granted.detail["destination"] == f"{SERVER_HOST}:{port}"
