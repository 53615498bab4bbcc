#!/usr/bin/env python3
"""Rule-file benchmark: load+validate time and permission checks per second.

    python bench/rules_eval.py [--rules 1000 10000] [--users 10000] [--checks 300000]

For each size it generates a rule file (200 protocols, 50 client sets, 100 groups, ``--users``
users with password hashes, ``--rules`` protocol rules mixing selected/any/all-except
protocols, users/@groups/any and client sets/any, a fifth of them deny and a tenth disabled),
writes it to a temporary folder and measures:

- load + validate: ``rules.load(path)`` (read, tomllib, schema, semantic checks);
- compile: ``Policy.compile(ruleset)``;
- checks/s: random (protocol, user, client) checks (2,000 users and anonymous sessions, 220
  protocol GUIDs of which 20 unknown, clients inside and outside the client sets).

Each figure is the best of 3 runs, as elapsed time and as this process's CPU time: on a
shared machine the CPU time is the steadier of the two. The first line times a million dict
look-ups, to put the figures in context.

Targets (issue 2): >= 1,000,000 checks/s for a compiled rule set; a 10,000-rule file loads and
validates in <= 1 s. This is a benchmark, not a test: it prints, it does not fail.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules import (
    Action,
    AuthMode,
    ClientSet,
    Direction,
    PrimaryConnection,
    ProtocolDefinition,
    ProtocolRule,
    RuleSet,
    ServiceConfig,
    Transport,
    User,
    address_key,
    dumps,
    hash_password,
    load,
)
from rules.policy import Policy

CHECKS_TARGET = 1_000_000
LOAD_TARGET = 1.0
PROTOCOLS = 200
CLIENT_SETS = 50
GROUPS = 100


def generate(rule_count: int, user_count: int, rng: random.Random) -> RuleSet:
    """A valid rule set of the given size, shaped like a large site's."""
    protocols = tuple(
        ProtocolDefinition(
            guid=uuid.UUID(int=rng.getrandbits(128)),
            name=f"proto-{index}",
            primary=PrimaryConnection(1000 + index, Transport.TCP, Direction.OUTBOUND),
        )
        for index in range(PROTOCOLS)
    )
    client_sets = tuple(
        ClientSet(f"net-{index}", (f"10.{index}.0.0/16", f"2001:db8:{index:x}::/48"))
        for index in range(CLIENT_SETS)
    )
    hashes = [hash_password(f"password {index}") for index in range(4)]
    users = tuple(
        User(
            f"user-{index}",
            tuple(f"group-{rng.randrange(GROUPS)}" for _ in range(rng.randrange(3))),
            hashes[index % len(hashes)],
        )
        for index in range(user_count)
    )
    groups = sorted({f"@{group}" for user in users for group in user.groups})
    rules = tuple(
        _rule(index, protocols, users, groups, client_sets, rng) for index in range(rule_count)
    )
    return RuleSet(
        service=ServiceConfig(authentication=AuthMode.PASSWORD),
        protocols=protocols,
        client_sets=client_sets,
        users=users,
        rules=rules,
    )


def _rule(
    index: int,
    protocols: tuple[ProtocolDefinition, ...],
    users: tuple[User, ...],
    groups: list[str],
    client_sets: tuple[ClientSet, ...],
    rng: random.Random,
) -> ProtocolRule:
    roll = rng.random()
    chosen = (
        ("any",) if roll < 0.2 else tuple(p.name for p in rng.sample(protocols, rng.randint(1, 3)))
    )
    who = rng.random()
    if who < 0.3:
        principals: tuple[str, ...] = ("any",)
    elif who < 0.7:
        principals = tuple(u.name for u in rng.sample(users, rng.randint(1, 5)))
    else:
        principals = tuple(rng.sample(groups, rng.randint(1, 2)))
    clients = ("any",) if rng.random() < 0.5 else tuple(c.name for c in rng.sample(client_sets, 2))
    return ProtocolRule(
        name=f"rule {index}",
        action=Action.DENY if rng.random() < 0.2 else Action.ALLOW,
        protocols=chosen,
        users=principals,
        clients=clients,
        enabled=rng.random() >= 0.1,
        except_protocols=chosen != ("any",) and roll > 0.95,
    )


def best_of(runs: int, action: Callable[[], object]) -> tuple[float, float]:
    """The shortest wall-clock and the shortest CPU time of ``runs`` runs, in seconds."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return min(walls), min(cpus)


def check_all(policy: Policy, queries: list[tuple[uuid.UUID, str | None, int]]) -> None:
    check = policy.check
    for protocol, user, client in queries:
        check(protocol, user, client)


def queries_for(
    ruleset: RuleSet, count: int, rng: random.Random
) -> list[tuple[uuid.UUID, str | None, int]]:
    """Random checks: some anonymous, some of unknown protocols, about half from outside."""
    guids = [p.guid for p in ruleset.protocols] + [uuid.UUID(int=n) for n in range(20)]
    names: list[str | None] = [u.name for u in ruleset.users[:2000]] + [None] * 200
    clients = [address_key(f"10.{n % CLIENT_SETS}.{n % 250}.7") for n in range(500)]
    clients += [address_key(f"192.0.2.{n}") for n in range(1, 250)]
    clients += [address_key(f"2001:db8:{n:x}::9") for n in range(CLIENT_SETS)]
    return [(rng.choice(guids), rng.choice(names), rng.choice(clients)) for _ in range(count)]


def measure(rule_count: int, user_count: int, check_count: int, folder: Path) -> dict[str, float]:
    rng = random.Random(rule_count)
    ruleset = generate(rule_count, user_count, rng)
    path = folder / f"rules-{rule_count}.toml"
    path.write_text(dumps(ruleset), encoding="utf-8")
    loaded: list[RuleSet] = []
    load_wall, load_cpu = best_of(3, lambda: loaded.append(load(path)))
    assert loaded[-1] == ruleset
    policies: list[Policy] = []
    compile_wall, _ = best_of(1, lambda: policies.append(Policy.compile(ruleset)))
    queries = queries_for(ruleset, check_count, rng)
    check_wall, check_cpu = best_of(3, lambda: check_all(policies[0], queries))
    return {
        "size_kib": path.stat().st_size / 1024,
        "load": load_wall,
        "load_cpu": load_cpu,
        "compile": compile_wall,
        "rate": check_count / check_wall,
        "rate_cpu": check_count / check_cpu,
    }


def machine_speed() -> float:
    """Seconds for a million dict look-ups: context for the figures on a shared machine."""
    table: dict[int, int] = {}
    get = table.get
    start = time.perf_counter()
    for key in range(1_000_000):
        get(key)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=300_000)
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {args.users} users, {PROTOCOLS} protocols, "
        f"{CLIENT_SETS} client sets, {args.checks} checks per pass; "
        f"machine: 1M dict look-ups in {machine_speed() * 1000:.0f} ms"
    )
    print("wall: elapsed time, best of 3; cpu: this process's CPU time, best of 3")
    print(
        f"{'rules':>6}  {'file':>9}  {'load+validate wall/cpu':>22}  {'target':<11}  "
        f"{'compile':>8}  {'checks/s wall/cpu':>21}  {'target':<16}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for rule_count in args.rules:
            result = measure(rule_count, args.users, args.checks, Path(folder))
            load_target = "-"
            if rule_count >= 10_000:
                verdict = "ok" if result["load"] <= LOAD_TARGET else "MISS"
                load_target = f"<= {LOAD_TARGET:.0f} s {verdict}"
            rate_verdict = "ok" if result["rate"] >= CHECKS_TARGET else "MISS"
            print(
                f"{rule_count:>6}  {result['size_kib']:>5.0f} KiB  "
                f"{result['load']:>8.3f} s / {result['load_cpu']:>6.3f} s  {load_target:<11}  "
                f"{result['compile']:>6.3f} s  "
                f"{result['rate']:>9,.0f} / {result['rate_cpu']:>9,.0f}  "
                f">= {CHECKS_TARGET:,} {rate_verdict}"
            )


if __name__ == "__main__":
    main()
