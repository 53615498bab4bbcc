"""Salted scrypt password hashes: never plaintext, verified in constant time."""

from __future__ import annotations

import base64
import hashlib

import pytest

from rules.passwords import hash_password, is_password_hash, verify_password

HASH = hash_password("correct horse")


def test_hash_has_the_documented_format() -> None:
    scheme, n, r, p, salt, digest = HASH.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32


def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    assert verify_password("correct horse", HASH)
    assert not verify_password("correct horse ", HASH)
    assert not verify_password("", HASH)


def test_every_hash_has_its_own_salt() -> None:
    again = hash_password("correct horse")
    assert again != HASH
    assert verify_password("correct horse", again)


def test_non_ascii_passwords_work() -> None:
    assert verify_password("pässwörd ✓", hash_password("pässwörd ✓"))


@pytest.mark.parametrize(
    "text",
    [
        "hunter2",
        "scrypt$…",
        "",
        HASH.replace("scrypt", "bcrypt"),
        HASH.replace("$16384$", "$16383$"),  # N must be a power of two
        HASH.replace("$16384$", "$016384$"),
        HASH.replace("$16384$8$", "$1048576$64$"),  # more memory than allowed
        HASH.replace("$1$", "$17$"),
        HASH[:-4] + "!!!=",  # not base64
        HASH.rsplit("$", 1)[0] + "$" + base64.b64encode(b"short").decode(),
        HASH + "$extra",
    ],
)
def test_anything_but_a_well_formed_hash_is_rejected(text: str) -> None:
    assert not is_password_hash(text)
    assert not verify_password("correct horse", text)


def test_a_hash_with_other_costs_still_verifies() -> None:
    """The costs live in the hash, so files written with other defaults keep working."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old", salt=salt, n=1024, r=4, p=2, dklen=24)
    encoded = "$".join(
        [
            "scrypt",
            "1024",
            "4",
            "2",
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )
    assert is_password_hash(encoded)
    assert verify_password("old", encoded)
    assert not verify_password("new", encoded)
