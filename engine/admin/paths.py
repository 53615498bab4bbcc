"""Where the admin socket lives, and how the server claims and releases its file safely.

The socket sits alone in a folder of mode 0700 owned by the service's user,
and is itself mode 0600 from the moment it exists (bound under umask 0o177):
file permissions are the first layer of access control, the peer-credential
check of :mod:`engine.admin.server` the second. A socket file left behind by
a crashed service is replaced; a live one, or anything that is not a socket,
is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Mapping
from pathlib import Path

from engine.admin.errors import AdminSocketError

__all__ = [
    "SOCKET_NAME",
    "bind_socket",
    "claim_path",
    "default_socket_path",
    "prepare_folder",
    "release_path",
]

SOCKET_NAME = "admin.sock"
_PROBE_TIMEOUT = 2.0
"""Seconds to wait for an existing socket to accept before calling it live."""

FileIdentity = tuple[int, int]
"""``(st_dev, st_ino)`` of a file: tells our socket file from one that replaced it."""


def default_socket_path(environ: Mapping[str, str] | None = None, uid: int | None = None) -> Path:
    """Where the admin socket is when none is configured.

    ``$FWX_ADMIN_SOCKET`` if set; else ``$XDG_RUNTIME_DIR/fwx/admin.sock``;
    else ``/run/fwx/admin.sock`` for root and ``/tmp/fwx-<uid>/admin.sock``
    for anyone else. ``environ`` and ``uid`` default to this process's.
    """
    env = os.environ if environ is None else environ
    uid = os.geteuid() if uid is None else uid
    explicit = env.get("FWX_ADMIN_SOCKET")
    if explicit:
        return Path(explicit)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "fwx" / SOCKET_NAME
    if uid == 0:
        return Path("/run/fwx") / SOCKET_NAME
    return Path(f"/tmp/fwx-{uid}") / SOCKET_NAME


def prepare_folder(folder: Path) -> None:
    """Create ``folder`` (mode 0700), or check an existing one is ours and make it 0700.

    A folder owned by another user, a symbolic link, or a shared folder such
    as ``/tmp`` (sticky bit) is refused with :class:`AdminSocketError`.
    """
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as err:
        raise AdminSocketError(f"cannot create the folder {folder}: {err.strerror}") from None
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise AdminSocketError(f"{folder} is not a folder; the admin socket needs one of its own")
    if info.st_uid != os.geteuid():
        raise AdminSocketError(
            f"{folder} belongs to uid {info.st_uid}, not to this service's uid {os.geteuid()}"
        )
    if info.st_mode & stat.S_ISVTX:
        raise AdminSocketError(
            f"{folder} is a shared folder (sticky bit); the admin socket needs one of its own"
        )
    os.chmod(folder, 0o700)


async def claim_path(path: Path) -> None:
    """Make ``path`` free for a new socket: remove a stale socket file, refuse anything else.

    :class:`AdminSocketError` when a service is listening there, or when the
    path holds something that is not a socket (it is never removed).
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise AdminSocketError(f"{path} exists and is not a socket; it was left in place")
    if await _is_live(path):
        raise AdminSocketError(f"another fwx service is listening on {path}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def _is_live(path: Path) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), _PROBE_TIMEOUT)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        return True
    except OSError as err:
        raise AdminSocketError(f"cannot check the socket {path}: {err.strerror}") from None
    writer.close()
    return True


def bind_socket(path: Path) -> tuple[socket.socket, FileIdentity]:
    """A Unix stream socket bound at ``path`` with mode 0600 from the start, and its file."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    except OSError as err:
        sock.close()
        raise AdminSocketError(f"cannot listen on {path}: {err.strerror or err}") from None
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    info = os.lstat(path)
    return sock, (info.st_dev, info.st_ino)


def release_path(path: Path, identity: FileIdentity) -> None:
    """Remove the socket file at ``path`` if it is still the one we bound."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if (info.st_dev, info.st_ino) == identity:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
