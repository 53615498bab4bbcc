"""Dropping root once the listeners are bound: what ``fwx serve --user NAME[:GROUP]`` does.

A service started as root (to bind a port below 1024, or to own the default
``/run/fwx`` and ``/var/lib/fwx``) binds its SOCKS listener, opens its admin
socket and its audit log, and then becomes ``NAME``: the supplementary groups
are dropped, then the group is set, then the user (in that order: once the
uid is no longer 0 the groups cannot change). The kernel clears every
capability with the uid. The drop is checked: real, effective and saved ids
are ``NAME``'s, no capability is left, and ``setuid(0)`` fails.

Before the switch the files the service goes on using are handed to ``NAME``:
the admin socket and its folder (fwx's own, mode 0700, so the service can
still remove the socket when it stops), the audit file with its ``-wal`` and
``-shm`` files, and the audit file's folder when it holds nothing else. Then,
with ``NAME``'s effective ids (reversibly), the service checks that it can
still reach them: a path ``NAME`` cannot reach is refused before the switch
rather than failing later. A rule file ``NAME`` cannot read is only a
warning: the service runs, but reloads fail until ``NAME`` can read it.

After the switch the interpreter's own files may be out of ``NAME``'s reach
(a Python installed under ``/root``), so the modules the service imports
lazily are imported before it.
"""

from __future__ import annotations

import contextlib
import grp
import importlib
import logging
import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.service import Service

__all__ = ["Account", "PrivilegeError", "drop_privileges", "reclaim", "resolve_account"]

logger = logging.getLogger("fwx.privileges")

_LAZY_MODULES = ("concurrent.futures.thread", "encodings.idna", "stringprep", "unicodedata")
"""Modules the service imports on first use: the thread pool that checks passwords and writes
the audit log's last batch, and the IDNA codec for host names in CONNECT requests."""
_AUDIT_SUFFIXES = ("", "-wal", "-shm", "-journal")
"""The audit file and the files SQLite keeps next to it."""
_CAPABILITY_FIELDS = (b"CapPrm:", b"CapEff:", b"CapAmb:")
"""The capability sets of ``/proc/self/status`` that must be empty after the drop."""


class PrivilegeError(Exception):
    """The service cannot become the account asked for; the message is one line."""


@dataclass(frozen=True, slots=True)
class Account:
    """The user and group the service becomes."""

    user: str
    uid: int
    group: str
    gid: int

    def __str__(self) -> str:
        """``user:group (uid N, gid M)``."""
        return f"{self.user}:{self.group} (uid {self.uid}, gid {self.gid})"


def resolve_account(text: str) -> Account:
    """``NAME[:GROUP]`` (names or numeric ids) as an account; GROUP defaults to NAME's group.

    Raises :class:`PrivilegeError` when this process is not root (only root
    can change its user), when the user or group does not exist, and for
    uid or gid 0 (that would keep root's power).
    """
    if os.geteuid() != 0:
        raise PrivilegeError("--user needs root: only root can change its user")
    name, colon, group_text = text.partition(":")
    user = _passwd(name)
    group = _group(group_text) if colon else _group(str(user.pw_gid))
    if user.pw_uid == 0 or group.gr_gid == 0:
        raise PrivilegeError(f"--user {text}: uid and gid must not be 0 (that keeps root's power)")
    return Account(user.pw_name, user.pw_uid, group.gr_name, group.gr_gid)


def _passwd(text: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwuid(int(text)) if text.isdigit() else pwd.getpwnam(text)
    except KeyError:
        raise PrivilegeError(f"--user: no user {text!r}") from None


def _group(text: str) -> grp.struct_group:
    try:
        return grp.getgrgid(int(text)) if text.isdigit() else grp.getgrnam(text)
    except KeyError:
        raise PrivilegeError(f"--user: no group {text!r}") from None


def reclaim(account: Account, admin_socket: Path | None) -> None:
    """Before the service starts: take back the admin socket's folder a run as ``account`` left.

    That folder must belong to the service's user when it starts (root); a
    previous ``--user`` run gave it to ``account``. Only a real folder owned
    by ``account`` is taken back; anything else is left for the admin
    socket's own checks to refuse.
    """
    if admin_socket is None:
        return
    folder = admin_socket.parent
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return
    except OSError as err:
        raise PrivilegeError(f"cannot inspect {folder}: {err.strerror}") from None
    if stat.S_ISDIR(info.st_mode) and info.st_uid == account.uid:
        _chown(folder, os.geteuid(), os.getegid())


def drop_privileges(service: Service, account: Account) -> None:
    """Hand the service's files to ``account``, become it for good, and check it took.

    Call once the service has started. Raises :class:`PrivilegeError` (one
    line) when a path the service needs is out of ``account``'s reach or a
    step fails, before the switch (still root) or while checking it (the
    files are ``account``'s by then): either way the caller can stop the
    service cleanly.
    """
    if os.geteuid() != 0:
        raise PrivilegeError("--user needs root: only root can change its user")
    _preload()
    try:
        needed = _hand_over(service, account)
        with _effective(account):
            missing = [path for path, mode in needed if not _reachable(path, mode)]
            rules_readable = os.access(service.rules_path, os.R_OK, effective_ids=True)
    except OSError as err:
        raise PrivilegeError(f"cannot prepare to become {account}: {err.strerror or err}") from None
    if missing:
        names = ", ".join(str(path) for path in missing)
        raise PrivilegeError(f"{account.user} cannot reach {names}; give it access or move it")
    _switch(account)
    _verify(account)
    logger.info("running as %s", account)
    if not rules_readable:
        logger.warning(
            "%s cannot read the rule file %s: reloads will fail until it can",
            account.user,
            service.rules_path,
        )


def _preload() -> None:
    """Import now what the service would import later, when the files may be out of reach."""
    for name in _LAZY_MODULES:
        importlib.import_module(name)


def _hand_over(service: Service, account: Account) -> list[tuple[Path, int]]:
    """Give ``account`` the admin socket and audit files; the paths it must reach, and how."""
    needed: list[tuple[Path, int]] = []
    if service.admin_socket is not None:
        socket_path = service.admin_socket
        _chown(socket_path.parent, account.uid, account.gid)
        _chown(socket_path, account.uid, account.gid)
        needed.append((socket_path.parent, os.W_OK | os.X_OK))
    if service.audit is not None:
        audit = service.audit.stats.path
        for suffix in _AUDIT_SUFFIXES:
            path = Path(f"{audit}{suffix}")
            if path.exists():
                _chown(path, account.uid, account.gid)
        if _is_audit_folder(audit):
            _chown(audit.parent, account.uid, account.gid)
        needed.append((audit, os.R_OK | os.W_OK))
    return needed


def _is_audit_folder(audit: Path) -> bool:
    """True when the audit file's folder is a real folder holding the audit files only."""
    folder = audit.parent
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & stat.S_ISVTX:
        return False
    own = {f"{audit.name}{suffix}" for suffix in _AUDIT_SUFFIXES}
    return set(os.listdir(folder)) <= own


def _chown(path: Path, uid: int, gid: int) -> None:
    try:
        os.chown(path, uid, gid, follow_symlinks=False)
    except OSError as err:
        raise PrivilegeError(f"cannot give {path} to uid {uid}: {err.strerror}") from None


def _reachable(path: Path, mode: int) -> bool:
    """Whether the current effective ids may use ``path`` as ``mode`` says."""
    return os.access(path, mode, effective_ids=True)


@contextlib.contextmanager
def _effective(account: Account) -> Iterator[None]:
    """Run the body with ``account``'s effective ids; the real and saved ids keep root's."""
    groups, egid = os.getgroups(), os.getegid()
    os.setgroups([])
    os.setegid(account.gid)
    os.seteuid(account.uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(egid)
        os.setgroups(groups)


def _switch(account: Account) -> None:
    """Groups, then group, then user: each step needs the privileges the next one removes."""
    try:
        os.setgroups([])
        os.setgid(account.gid)
        os.setuid(account.uid)
    except OSError as err:
        raise PrivilegeError(f"cannot become {account}: {err.strerror}") from None


def _verify(account: Account) -> None:
    """Check every id is ``account``'s, no capability is left and root cannot be regained."""
    if os.getresuid() != (account.uid,) * 3 or os.getresgid() != (account.gid,) * 3:
        raise PrivilegeError(f"the ids after the switch are not all {account}'s")
    if os.getgroups() not in ([], [account.gid]):
        raise PrivilegeError(f"supplementary groups are left after the switch: {os.getgroups()}")
    if _capabilities():
        raise PrivilegeError(f"capabilities are left after the switch: {_capabilities()}")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise PrivilegeError("root could be regained after the switch")


def _capabilities() -> list[str]:
    """The non-empty capability sets of this process (``CapEff:0000...`` lines), if any."""
    with open("/proc/self/status", "rb") as status:
        lines = status.read().splitlines()
    return [
        line.decode().replace("\t", "")
        for line in lines
        if line.startswith(_CAPABILITY_FIELDS) and int(line.split()[1], 16)
    ]
