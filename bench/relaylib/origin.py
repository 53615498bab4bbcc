"""The origin: a bulk source and an echo server in their own process, and how to start it."""

from __future__ import annotations

import multiprocessing
import select
import signal
import socket
import struct
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection

from .net import Endpoint, listener, recv_exactly

ORIGIN_HOST = "127.0.0.2"
CHUNK = 1 << 20
REQUEST = b"q" * 32
RESPONSE = b"r" * 32


@dataclass(frozen=True)
class Origin:
    """Where the origin process serves bulk data and echo sessions."""

    bulk: Endpoint
    echo: Endpoint


def origin_main(pipe: Connection, port: int) -> None:
    """Serve bulk downloads (threads) on ``port`` and echo sessions (epoll) on ``port + 1``.

    Sends the two ports, or why they cannot be had, through ``pipe``, then serves until
    terminated. Ctrl-C reaches the whole process group; the parent ends this process.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        bulk = listener(ORIGIN_HOST, port)
        echo = listener(ORIGIN_HOST, port + 1 if port else 0)
    except OSError as exc:
        pipe.send(
            f"cannot listen on {ORIGIN_HOST} port {port} or {port + 1}: {exc.strerror} "
            "(another run? see --origin-port)"
        )
        return
    pipe.send((bulk.getsockname()[1], echo.getsockname()[1]))
    threading.Thread(target=serve_bulk, args=(bulk,), daemon=True).start()
    serve_echo(echo)


def serve_bulk(sock: socket.socket) -> None:
    """Accept bulk connections, one thread each (there are few)."""
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=send_bulk, args=(conn,), daemon=True).start()


def send_bulk(conn: socket.socket) -> None:
    """Read an 8-byte size, send that many bytes, then wait for the client to close."""
    source = memoryview(bytes(CHUNK))
    with conn:
        try:
            (size,) = struct.unpack("!Q", recv_exactly(conn, 8))
            while size > 0:
                piece = source[: min(size, CHUNK)]
                conn.sendall(piece)
                size -= len(piece)
            conn.recv(1)
        except OSError:
            return


def serve_echo(sock: socket.socket) -> None:
    """Answer a 32-byte request with a 32-byte response; close after the client does.

    A bare epoll loop: it costs about half the CPU per session of an asyncio server, and the
    origin shares the machine with the server under test.
    """
    sock.setblocking(False)
    poller = select.epoll()
    poller.register(sock.fileno(), select.EPOLLIN)
    clients: dict[int, socket.socket] = {}
    received: dict[int, int] = {}
    while True:
        for fd, _ in poller.poll():
            if fd == sock.fileno():
                for conn in accept_all(sock):
                    clients[conn.fileno()], received[conn.fileno()] = conn, 0
                    poller.register(conn.fileno(), select.EPOLLIN)
                continue
            conn = clients[fd]
            try:
                data = conn.recv(512)
                before, received[fd] = received[fd], received[fd] + len(data)
                if before < len(REQUEST) <= received[fd]:
                    conn.send(RESPONSE)
            except OSError:
                data = b""
            if not data:
                poller.unregister(fd)
                del clients[fd], received[fd]
                conn.close()


def accept_all(sock: socket.socket) -> list[socket.socket]:
    """Every connection waiting on a non-blocking listening socket, made non-blocking."""
    accepted: list[socket.socket] = []
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return accepted
        conn.setblocking(False)
        accepted.append(conn)


def start_origin(port: int) -> tuple[multiprocessing.process.BaseProcess, Origin]:
    """The origin process, and where it listens."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=origin_main, args=(sender, port), daemon=True)
    process.start()
    started = receiver.recv() if receiver.poll(30) else "the origin server did not start"
    if isinstance(started, str):
        process.terminate()
        raise SystemExit(f"relay.py: {started}")
    bulk, echo = started
    return process, Origin((ORIGIN_HOST, bulk), (ORIGIN_HOST, echo))
