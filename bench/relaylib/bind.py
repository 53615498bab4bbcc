"""One BIND attempt, timed from the client's TCP connect to one byte crossing each way."""

from __future__ import annotations

import ipaddress
import socket
import time

from .net import Endpoint, describe, family_of, listener, recv_exactly
from .socks import CMD_BIND, SocksError, Target, read_reply, socks_request

PEER_HOST = "127.0.0.3"


class BindFailure(Exception):
    """A BIND attempt that failed, with the stage it reached."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage}: {describe(cause)}")
        self.stage = stage
        self.timed_out = isinstance(cause, TimeoutError)


def bind_attempt(target: Target, timeout: float) -> float:
    """Seconds from connecting to the server until one byte has crossed each way."""
    sockets: list[socket.socket] = []
    deadline = time.perf_counter() + timeout
    stage = "connect"

    def armed(sock: socket.socket) -> socket.socket:
        sock.settimeout(max(deadline - time.perf_counter(), 0.001))
        return sock

    start = time.perf_counter()
    try:
        if target.endpoint is None:
            control = armed(listener("127.0.0.1"))
            sockets.append(control)
            bound: Endpoint = control.getsockname()[:2]
        else:
            control = armed(socket.create_connection(target.endpoint, timeout=timeout))
            sockets.append(control)
            control.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stage = "first reply"
            bound = socks_request(control, CMD_BIND, (PEER_HOST, 0))
            if ipaddress.ip_address(bound[0]).is_unspecified:
                bound = (target.endpoint[0], bound[1])
        stage = "peer connect"
        peer = armed(socket.socket(family_of(bound[0]), socket.SOCK_STREAM))
        sockets.append(peer)
        peer.bind((PEER_HOST if peer.family == socket.AF_INET else "::1", 0))
        peer.connect(bound)
        stage = "second reply"
        if target.endpoint is None:
            data = armed(control.accept()[0])
            sockets.append(data)
        else:
            read_reply(armed(control))
            data = control
        stage = "first byte"
        armed(peer).sendall(b"p")
        recv_exactly(armed(data), 1)
        data.sendall(b"c")
        recv_exactly(armed(peer), 1)
        return time.perf_counter() - start
    except (OSError, SocksError, ValueError) as exc:
        raise BindFailure(stage, exc) from exc
    finally:
        for sock in sockets:
            sock.close()
