"""Password hashes for rule files: salted ``hashlib.scrypt``, never plaintext.

A hash is one printable string, ``scrypt$N$r$p$<salt>$<hash>`` (salt and
hash in standard base64), so it fits in a TOML string and carries its own
cost parameters: a file written with today's costs still verifies after the
defaults change. Parameters are bounded (128 MiB of scrypt memory, p <= 16)
so a careless or hostile rule file cannot make a login allocate gigabytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

__all__ = ["hash_password", "is_password_hash", "verify_password"]

_SCHEME = "scrypt"
_DEFAULT_N = 2**14
_DEFAULT_R = 8
_DEFAULT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_MAX_MEMORY = 2**27
_MAX_P = 16
_MIN_SALT_BYTES = 8
_HASH_SIZES = range(16, 65)


_FORMAT = re.compile(
    r"scrypt\$([1-9][0-9]{0,8})\$([1-9][0-9]{0,4})\$([1-9][0-9]{0,4})"
    r"\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})"
)


@dataclass(frozen=True, slots=True)
class _Encoded:
    n: int
    r: int
    p: int
    salt: str
    digest: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64_size(text: str) -> int:
    """How many bytes well-formed base64 ``text`` decodes to (-1 if its length is wrong)."""
    if len(text) % 4:
        return -1
    return len(text) // 4 * 3 - text.count("=")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, size: int) -> bytes:
    memory = 128 * r * (n + p + 2) + 2**20
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=size
    )


def _decode(encoded: str) -> _Encoded | None:
    """The parts of a hash, or None when ``encoded`` is not one fwx accepts.

    Checked without decoding (a large user list is validated on every load).
    """
    match = _FORMAT.fullmatch(encoded)
    if match is None:
        return None
    n, r, p = int(match[1]), int(match[2]), int(match[3])
    if n < 2 or n & (n - 1) or 128 * n * r > _MAX_MEMORY or p > _MAX_P:
        return None
    salt, digest = match[4], match[5]
    if _b64_size(salt) < _MIN_SALT_BYTES or _b64_size(digest) not in _HASH_SIZES:
        return None
    return _Encoded(n, r, p, salt, digest)


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``, as written in rule files."""
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(password, salt, _DEFAULT_N, _DEFAULT_R, _DEFAULT_P, _HASH_BYTES)
    return f"{_SCHEME}${_DEFAULT_N}${_DEFAULT_R}${_DEFAULT_P}${_b64(salt)}${_b64(digest)}"


def is_password_hash(text: str) -> bool:
    """True when ``text`` is a well-formed hash (as opposed to, say, a plaintext password)."""
    return _decode(text) is not None


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False for a wrong password or a bad hash.

    The comparison is constant-time (:func:`hmac.compare_digest`).
    """
    parts = _decode(encoded)
    if parts is None:
        return False
    expected = base64.b64decode(parts.digest)
    salt = base64.b64decode(parts.salt)
    digest = _scrypt(password, salt, parts.n, parts.r, parts.p, len(expected))
    return hmac.compare_digest(digest, expected)
