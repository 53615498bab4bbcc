"""Slow clients and connection floods: cut, refused, paused, and nothing established hurt.

- A client that sends a byte a second is cut at the handshake time-out in
  every phase (greeting, RFC 1929 credentials, request): no answer to the
  dribbled message, and its descriptor is released.
- A flood beyond ``max_connections`` is refused cleanly (closed at once, not
  a byte sent) while established relays keep relaying every byte, and new
  connections are served again once the flood is gone.
- A flood that exhausts the service's file descriptors makes it stop
  accepting for a moment, with one warning per pause, instead of spinning
  on the listener and logging a line each turn; a pending bind that a
  remote knocks on meanwhile survives, and the knock is discarded (and
  counted) once descriptors are back.

Services run in child processes (see ``conftest.py``) so their descriptors
can be counted exactly and their ``RLIMIT_NOFILE`` set low. Every wait is
bounded: a regression fails, it never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

from bench.loadlib.clients import CONNECT, Relay, Tally, socks_open
from bench.loadlib.echo import EchoProcess
from bench.loadlib.service import ServiceProcess
from console.control.remote import RemoteControl
from engine.socks.bind import ACCEPT_PAUSE as BIND_ACCEPT_PAUSE
from engine.socks.server import ACCEPT_PAUSE, ServerOptions
from tests.e2e.socks_client import BIND, SocksClient
from tests.hardening.conftest import PASSWORD, USER, StartService, rules_text

PHASE_TIMEOUT = 2.5
DRIBBLE_GAP = 1.0
"""A byte a second, as the slowest clients send."""
WAIT = 15.0
"""The most any step here may take before the test fails (a hang guard, not a timing claim)."""
SLOW_CLIENTS = 6


def _wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _credentials(user: str, password: str) -> bytes:
    return bytes((1, len(user))) + user.encode() + bytes((len(password),)) + password.encode()


GREETING = b"\x05\x01\x02"
LOGIN = _credentials(USER, PASSWORD)
LONG_GREETING = b"\x05\xff" + bytes(range(255))
LONG_LOGIN = _credentials("u" * 255, "p" * 255)
LONG_REQUEST = b"\x05\x01\x00\x03\xff" + b"h" * 255 + b"\x00\x50"

Step = tuple[bytes, bytes]
"""Bytes to send at full speed, and the answer they must get."""


async def _dribble(
    address: tuple[str, int], steps: list[Step], message: bytes
) -> tuple[int, bytes]:
    """Complete ``steps``, then send ``message`` a byte a second until the service cuts it.

    Returns how many bytes were dribbled and what came back after the steps
    (``b""`` for a clean close; anything else is an answer it must not get).
    """
    reader, writer = await asyncio.open_connection(*address)
    try:
        for data, answer in steps:
            writer.write(data)
            assert await reader.readexactly(len(answer)) == answer
        for sent, byte in enumerate(message, 1):
            writer.write(bytes((byte,)))
            try:
                data = await asyncio.wait_for(reader.read(64), DRIBBLE_GAP)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return sent, b""
            return sent, data
        return len(message), b"<the whole message was taken>"
    finally:
        writer.close()


def test_a_byte_a_second_is_cut_at_the_phase_timeout_in_every_phase(
    start_service: StartService,
) -> None:
    """Greeting, credentials and request each get ``phase_timeout``; a dribble is cut unanswered."""
    options = ServerOptions(phase_timeout=PHASE_TIMEOUT)
    service = start_service(rules_text(password=True), options=options, audit=False)
    baseline = service.fds()
    phases = {
        "greeting": ([], LONG_GREETING),
        "credentials": ([(GREETING, b"\x05\x02")], LONG_LOGIN),
        "request": ([(GREETING, b"\x05\x02"), (LOGIN, b"\x01\x00")], LONG_REQUEST),
    }

    async def clients() -> dict[str, list[tuple[int, bytes]]]:
        async with asyncio.timeout(WAIT * 2):
            results = await asyncio.gather(
                *(
                    _dribble(service.address, steps, message)
                    for steps, message in phases.values()
                    for _ in range(SLOW_CLIENTS)
                )
            )
        return {
            phase: results[n * SLOW_CLIENTS : (n + 1) * SLOW_CLIENTS]
            for n, phase in enumerate(phases)
        }

    outcomes = asyncio.run(clients())
    for phase, results in outcomes.items():
        message = phases[phase][1]
        for sent, answer in results:
            assert answer == b"", f"{phase}: the service answered a dribbled message: {answer!r}"
            assert sent < len(message), f"{phase}: the service waited for the whole message"
    _wait_until(lambda: service.fds() == baseline, "the slow clients' descriptors are released")


async def _flood(address: tuple[str, int], count: int) -> dict[str, int]:
    """``count`` connections at once, each greeting; how each ended: served, refused, garbage, hung.

    Served ones (the method-choice answer) are held until every outcome is in.
    """
    outcomes: dict[str, int] = {"served": 0, "refused": 0, "garbage": 0, "hung": 0}
    held: list[asyncio.StreamWriter] = []

    async def one() -> None:
        reader, writer = await asyncio.open_connection(*address)
        held.append(writer)
        writer.write(b"\x05\x01\x00")
        try:
            data = await asyncio.wait_for(reader.read(16), WAIT / 3)
        except TimeoutError:
            outcomes["hung"] += 1
            return
        except ConnectionResetError:
            data = b""
        if data == b"\x05\x00":
            outcomes["served"] += 1
        else:
            outcomes["refused" if data == b"" else "garbage"] += 1

    try:
        await asyncio.gather(*(one() for _ in range(count)))
    finally:
        for writer in held:
            writer.close()
    return outcomes


class _Relays:
    """Established CONNECT sessions exchanging with the echo server until stopped."""

    def __init__(self, service: ServiceProcess, echo: EchoProcess, count: int) -> None:
        self.tally = Tally()
        self._stop = asyncio.Event()
        self._relays = [Relay(self.tally, 2048, 0.05) for _ in range(count)]
        self._address, self._echo = service.address, echo.address
        self._running: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for relay in self._relays:
            assert await relay.open(self._address, "127.0.0.1", self._echo), self.tally.failures
        self._running = [asyncio.ensure_future(relay.run(self._stop)) for relay in self._relays]

    async def stop(self) -> Tally:
        self._stop.set()
        await asyncio.gather(*self._running)
        return self.tally


def _assert_intact(tally: Tally, count: int) -> None:
    assert tally.opened == count
    assert tally.failures == {}, "a relay failed or was reset"
    assert tally.mismatches == 0
    assert tally.bytes_back == tally.bytes_out > 0


async def _exchanged_meanwhile(relays: _Relays, work: asyncio.Future[object]) -> int:
    """Exchanges the relays completed while ``work`` ran (at least one must, or it is stalled)."""
    before = relays.tally.exchanges
    await work
    await asyncio.sleep(0.3)
    return relays.tally.exchanges - before


def test_a_flood_beyond_max_connections_is_refused_cleanly_and_hurts_no_relay(
    start_service: StartService, echo: EchoProcess
) -> None:
    cap, established, flood = 30, 10, 200
    options = ServerOptions(max_connections=cap, phase_timeout=WAIT)
    service = start_service(rules_text(echo_port=echo.port), options=options)
    baseline = service.fds()

    async def scenario() -> None:
        async with asyncio.timeout(WAIT * 3), RemoteControl(service.socket_path) as control:
            relays = _Relays(service, echo, established)
            await relays.start()
            outcomes = asyncio.ensure_future(_flood(service.address, flood))
            assert await _exchanged_meanwhile(relays, outcomes) > 0
            result = outcomes.result()
            assert result["garbage"] == result["hung"] == 0, result
            assert result["served"] <= cap - established, result
            assert result["refused"] >= flood - (cap - established), result
            while (await control.status()).connections != established:
                await asyncio.sleep(0.05)
            again = _Relays(service, echo, established)
            await again.start()
            _assert_intact(await again.stop(), established)
            _assert_intact(await relays.stop(), established)

    asyncio.run(scenario())
    _wait_until(lambda: service.fds() == baseline, "every descriptor is released")


def _flood_sockets(address: tuple[str, int], count: int) -> list[socket.socket]:
    """``count`` plain TCP connections to ``address`` (the kernel completes them; none sends)."""
    return [socket.create_connection(address, timeout=WAIT) for _ in range(count)]


def _accept_warnings(lines: list[str]) -> int:
    return sum("accept failed" in line for line in lines)


def test_out_of_descriptors_the_server_pauses_accepting_instead_of_spinning(
    start_service: StartService, echo: EchoProcess
) -> None:
    """Regression: EMFILE on accept re-fired at once, ~20,000 warnings a second, a core burnt."""
    options = ServerOptions(max_connections=1000, phase_timeout=WAIT * 2)
    service = start_service(
        rules_text(echo_port=echo.port), options=options, audit=False, fd_limit=64
    )
    baseline = service.fds()

    async def scenario() -> float:
        relays = _Relays(service, echo, 4)
        await relays.start()
        started = time.monotonic()
        flood = await asyncio.to_thread(_flood_sockets, service.address, 80)
        try:
            assert await _exchanged_meanwhile(relays, asyncio.ensure_future(asyncio.sleep(1.5))) > 0
            assert service.fds() == 64, "the flood should have used every descriptor"
        finally:
            for sock in flood:
                sock.close()
        elapsed = time.monotonic() - started
        reader, writer, _ = await socks_open(service.address, "127.0.0.1", CONNECT, *echo.address)
        writer.write(b"after the flood")
        assert await reader.readexactly(15) == b"after the flood"
        writer.close()
        _assert_intact(await relays.stop(), 4)
        return elapsed

    elapsed = asyncio.run(scenario())
    _wait_until(lambda: service.fds() == baseline, "every descriptor is released")
    warnings = _accept_warnings(service.stop())
    assert 1 <= warnings <= elapsed / ACCEPT_PAUSE + 2, f"{warnings} accept warnings"


def test_a_pending_bind_survives_a_knock_while_the_service_is_out_of_descriptors(
    start_service: StartService,
) -> None:
    """R99, R101, regression: EMFILE accepting a knock ended the client's pending bind."""
    service = start_service(rules_text(), audit=False, fd_limit=64)
    with SocksClient(service.address) as client:
        assert client.greet() == 0
        reply = client.request(BIND, "0.0.0.0", 0)
        assert reply.code == 0
        flood = _flood_sockets(service.address, 80)
        try:
            knock = socket.create_connection(reply.address, WAIT, ("127.0.0.3", 0))
            time.sleep(BIND_ACCEPT_PAUSE / 2)
            assert client.quiet(), "the pending bind was ended by a knock it could not accept"
        finally:
            for sock in flood:
                sock.close()
        with knock, contextlib.suppress(ConnectionResetError):
            assert knock.recv(1) == b"", "a discarded attempt gets a reset, never a byte"
        assert client.quiet(), "the pending bind must outlive the knock"

        async def discarded() -> int:
            async with RemoteControl(service.socket_path) as control:
                [bind] = await control.binds()
                assert bind.state == "pending"
                return bind.discarded_total

        assert asyncio.run(discarded()) == 1
