"""Saving rule files: canonical text, atomic replacement with a backup, load -> save -> load."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.errors import RuleFileError
from rules.loader import load, loads
from rules.model import (
    Action,
    AuthMode,
    ClientSet,
    Direction,
    IpFilterSet,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    SecondaryConnection,
    ServiceConfig,
    Transport,
    User,
)
from rules.passwords import hash_password
from rules.saver import backup_path, dumps, save, write_text
from rules.validate import validate

GOOD = Path(__file__).parent / "data" / "good"
ISSUE = load(GOOD / "issue_example.toml")


def test_dumps_is_canonical_and_readable() -> None:
    text = dumps(ISSUE)
    assert text.startswith('version = 1\n\n[service]\nlisten = "127.0.0.1:1080"\n')
    assert "pending_bind_timeout = 120\n" in text  # whole seconds written as integers
    assert (
        '[[protocol]]\nname = "Game host"\nguid = "a5b2c3d4-0000-4000-8000-000000007777"\n'
        'primary = { port = 7777, transport = "tcp", direction = "inbound" }\n'
    ) in text  # braces dropped, GUID lower case, primary inline
    assert (
        'secondary = [{ ports = "1024-65535", transport = "tcp", direction = "inbound" }]' in text
    )
    assert 'protocols = ["FTP", "DNS"]\n' in text


def test_dumps_is_deterministic_and_a_fixed_point() -> None:
    once = dumps(load(GOOD / "every_key.toml"))
    assert dumps(loads(once)) == once


def test_long_arrays_get_one_element_per_line() -> None:
    many = tuple(f"10.{index}.0.0/16" for index in range(20))
    text = dumps(dataclasses.replace(ISSUE, client_sets=(ClientSet("lan", many),)))
    assert 'addresses = [\n    "10.0.0.0/16",\n    "10.1.0.0/16",\n' in text
    assert loads(text).client_sets[0].addresses == many


@pytest.mark.parametrize("path", sorted(GOOD.glob("*.toml")), ids=lambda path: path.stem)
def test_good_fixtures_survive_load_save_load(path: Path, tmp_path: Path) -> None:
    ruleset = load(path)
    target = tmp_path / "rules.toml"
    save(ruleset, target)
    assert load(target) == ruleset


def test_save_keeps_the_previous_file_as_bak(tmp_path: Path) -> None:
    target = tmp_path / "rules.toml"
    target.write_text("version = 1\n# the old file\n")
    save(ISSUE, target)
    assert backup_path(target) == tmp_path / "rules.toml.bak"
    assert backup_path(target).read_text() == "version = 1\n# the old file\n"
    assert target.read_text() == dumps(ISSUE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.toml", "rules.toml.bak"]


def test_save_preserves_the_file_mode_and_new_files_are_private(tmp_path: Path) -> None:
    target = tmp_path / "rules.toml"
    save(ISSUE, target)
    assert target.stat().st_mode & 0o777 == 0o600
    target.chmod(0o640)
    save(ISSUE, target)
    assert target.stat().st_mode & 0o777 == 0o640


def test_save_follows_a_symbolic_link(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("version = 1\n")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    save(ISSUE, link)
    assert link.is_symlink()
    assert real.read_text() == dumps(ISSUE)
    assert (tmp_path / "real.toml.bak").read_text() == "version = 1\n"


def test_an_invalid_rule_set_is_never_written(tmp_path: Path) -> None:
    target = tmp_path / "rules.toml"
    target.write_text("version = 1\n")
    broken = dataclasses.replace(ISSUE, version=7)
    with pytest.raises(RuleFileError) as caught:
        save(broken, target)
    assert (
        str(caught.value) == f"{target}: version: unsupported version 7; this fwx reads version 1"
    )
    assert target.read_text() == "version = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.toml"]


def test_a_failed_write_leaves_the_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "rules.toml"
    target.write_text("version = 1\n")
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "missing-folder" / "rules.toml", "version = 1\n")

    def disk_full(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save(ISSUE, target)
    assert target.read_text() == "version = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.toml"]


def test_missing_passwords_can_be_saved_when_tolerated(tmp_path: Path) -> None:
    secured = dataclasses.replace(
        ISSUE,
        service=ServiceConfig(authentication=AuthMode.PASSWORD),
        users=(User("alice", ("staff",)),),
    )
    with pytest.raises(RuleFileError):
        save(secured, tmp_path / "rules.toml")
    save(secured, tmp_path / "rules.toml", allow_missing_passwords=True)
    assert load(tmp_path / "rules.toml", allow_missing_passwords=True) == secured


# ---- load -> save -> load, for any valid rule set -----------------------------------------

HASHES = [hash_password("one"), hash_password("two")]
NAME = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10
).filter(lambda name: name == name.strip() and name != "any" and not name.startswith("@"))
DESCRIPTION = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
SPECS = st.lists(
    st.sampled_from(
        ["10.0.0.0/8", "192.0.2.1", "198.51.100.10-198.51.100.20", "2001:db8::/32", "::1"]
    ),
    max_size=3,
).map(tuple)
SECONDS = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def connections(draw: st.DrawFn) -> tuple[Transport, Direction]:
    direction = draw(st.sampled_from(Direction))
    return draw(st.sampled_from(sorted(direction.transports))), direction


@st.composite
def protocols(draw: st.DrawFn, name: str) -> ProtocolDefinition:
    secondary = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        low = draw(st.integers(min_value=1, max_value=65535))
        high = draw(st.integers(min_value=low, max_value=65535))
        secondary.append(SecondaryConnection(low, high, *draw(connections())))
    return ProtocolDefinition(
        guid=draw(st.uuids()),
        name=name,
        primary=PrimaryConnection(draw(st.integers(1, 65535)), *draw(connections())),
        secondary=tuple(secondary),
        filter=draw(st.sampled_from([None, "ftp", "h323"])),
        description=draw(DESCRIPTION),
    )


def pick(draw: st.DrawFn, choices: list[str]) -> tuple[str, ...]:
    """``("any",)`` or a non-empty selection of ``choices``."""
    if not choices or draw(st.booleans()):
        return ("any",)
    return tuple(draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True)))


@st.composite
def rulesets(draw: st.DrawFn) -> RuleSet:
    auth = draw(st.sampled_from(AuthMode))
    protos = [draw(protocols(name)) for name in draw(st.lists(NAME, max_size=3, unique=True))]
    groups = ["staff", "ftp", "Ünïcode"]
    users = [
        User(
            name,
            tuple(draw(st.lists(st.sampled_from(groups), max_size=2, unique=True))),
            draw(st.sampled_from(HASHES if auth is AuthMode.PASSWORD else [None, *HASHES])),
            draw(DESCRIPTION),
        )
        for name in draw(st.lists(NAME, max_size=3, unique=True))
    ]
    client_sets = [
        ClientSet(name, draw(SPECS), draw(SPECS), draw(DESCRIPTION))
        for name in draw(st.lists(NAME, max_size=2, unique=True))
    ]
    protocol_spellings = [p.name for p in protos] + [
        "{" + str(p.guid).upper() + "}" for p in protos
    ]
    principals = [u.name for u in users] + sorted({f"@{g}" for u in users for g in u.groups})
    rules = []
    for name in draw(st.lists(NAME, max_size=4, unique=True)):
        chosen = pick(draw, protocol_spellings)
        rules.append(
            ProtocolRule(
                name=name,
                action=draw(st.sampled_from(Action)),
                protocols=chosen,
                users=pick(draw, principals),
                clients=pick(draw, [c.name for c in client_sets]),
                enabled=draw(st.booleans()),
                except_protocols=chosen != ("any",) and draw(st.booleans()),
                description=draw(DESCRIPTION),
            )
        )
    low = draw(st.integers(1, 65535))
    service = ServiceConfig(
        listen=draw(st.sampled_from(["127.0.0.1:1080", "[::1]:0", "0.0.0.0:65535"])),
        external=draw(st.sampled_from(["127.0.0.1", "2001:db8::1"])),
        packet_filtering=draw(st.booleans()),
        pending_bind_timeout=draw(SECONDS),
        max_binds_per_session=draw(st.integers(1, 10_000)),
        authentication=auth,
        bind_ports=draw(st.sampled_from([None, (low, draw(st.integers(low, 65535)))])),
        udp_peer_timeout=draw(SECONDS),
        description=draw(DESCRIPTION),
    )
    ip_filters = [
        IpFilterSet(name, draw(SPECS), draw(SPECS), draw(DESCRIPTION))
        for name in draw(st.lists(NAME, max_size=2, unique=True))
    ]
    return RuleSet(
        service, tuple(protos), tuple(ip_filters), tuple(client_sets), tuple(users), tuple(rules)
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rulesets())
def test_load_save_load_gives_an_equal_rule_set(ruleset: RuleSet) -> None:
    assert validate(ruleset) == []
    text = dumps(ruleset)
    assert loads(text) == ruleset
    assert dumps(loads(text)) == text


# ---- SIGKILL while saving --------------------------------------------------------------------


def save_forever(first: RuleSet, second: RuleSet, target: Path, ready: int) -> None:
    """The writer process: save one version, say so, then alternate versions until killed."""
    save(first, target)
    os.write(ready, b"r")
    while True:
        save(second, target)
        save(first, target)


def test_a_killed_save_leaves_the_old_or_the_new_file(tmp_path: Path) -> None:
    """SIGKILL at random moments of a save loop: the file is always one whole version.

    The writer is a forked child (no interpreter start-up per kill), killed 30 times.
    """
    padding = "x" * 50_000  # a larger file makes a kill during the write more likely
    first = dataclasses.replace(
        ISSUE, service=dataclasses.replace(ISSUE.service, description=padding)
    )
    second = dataclasses.replace(first, rules=first.rules[:1])
    versions = {dumps(first), dumps(second)}
    target = tmp_path / "rules.toml"
    rng = random.Random(20240229)
    for _ in range(30):
        ready, announce = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(ready)
                save_forever(first, second, target, announce)
            finally:
                os._exit(1)
        os.close(announce)
        assert os.read(ready, 1) == b"r"
        os.close(ready)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for path in (target, backup_path(target)):
            if path == backup_path(target) and not path.exists():
                continue  # killed before the first backup was made
            text = path.read_text()
            assert text in versions
            assert loads(text).version == 1
