"""BindTable: exact then INADDR_ANY lookup, address conflicts, port picking."""

from __future__ import annotations

import pytest

from engine.core.binds import Bind
from engine.core.bindtable import BindTable, is_any, is_v6
from engine.core.results import Transport
from engine.core.sessions import Session, SessionFlags

SESSION = Session(1, "10.0.0.5", None, SessionFlags.NAT, 0.0)


def bind_on(table: BindTable, ip: str, port: int, bind_id: int = 1) -> Bind:
    bind = Bind(bind_id, SESSION, Transport.TCP, (ip, port), 0.0)
    table.add(bind)
    return bind


@pytest.fixture
def table() -> BindTable:
    return BindTable()


def test_exact_address_is_found_first(table: BindTable) -> None:
    wildcard = bind_on(table, "0.0.0.0", 40000, 1)
    exact = bind_on(table, "198.51.100.1", 40001, 2)
    assert table.find(("198.51.100.1", 40001)) is exact
    assert table.find(("198.51.100.1", 40000)) is wildcard
    assert table.find(("198.51.100.2", 40000)) is wildcard
    assert table.find(("198.51.100.1", 40002)) is None


def test_inaddr_any_answers_for_its_own_family_only(table: BindTable) -> None:
    v4 = bind_on(table, "0.0.0.0", 40000, 1)
    v6 = bind_on(table, "::", 40000, 2)
    assert table.find(("2001:db8::1", 40000)) is v6
    assert table.find(("192.0.2.1", 40000)) is v4


def test_a_taken_or_overlapping_address_is_not_free(table: BindTable) -> None:
    bind_on(table, "198.51.100.1", 40000)
    assert not table.is_free("198.51.100.1", 40000)
    assert not table.is_free("0.0.0.0", 40000)
    assert table.is_free("198.51.100.2", 40000)
    assert table.is_free("::", 40000)
    bind_on(table, "::", 40001, 2)
    assert not table.is_free("2001:db8::1", 40001)
    assert table.is_free("198.51.100.1", 40001)


def test_removing_a_bind_frees_its_address(table: BindTable) -> None:
    first = bind_on(table, "198.51.100.1", 40000, 1)
    second = bind_on(table, "198.51.100.2", 40000, 2)
    table.remove(first)
    assert not table.is_free("0.0.0.0", 40000)
    table.remove(second)
    assert table.is_free("0.0.0.0", 40000)
    wildcard = bind_on(table, "0.0.0.0", 40000, 3)
    table.remove(wildcard)
    assert table.find(("198.51.100.1", 40000)) is None
    assert len(table) == 0


def test_removing_a_bind_that_is_not_indexed_changes_nothing(table: BindTable) -> None:
    kept = bind_on(table, "198.51.100.1", 40000, 1)
    table.remove(Bind(9, SESSION, Transport.TCP, ("198.51.100.1", 40000), 0.0))
    table.remove(Bind(8, SESSION, Transport.TCP, ("0.0.0.0", 40000), 0.0))
    assert table.find(("198.51.100.1", 40000)) is kept


def test_r38_free_port_goes_round_robin_and_skips_taken_ports(table: BindTable) -> None:
    bind_on(table, "198.51.100.1", 40001)
    picked = [table.free_port("198.51.100.1", 40000, 40003) for _ in range(3)]
    assert picked == [40000, 40002, 40003]
    for port in picked:
        assert port is not None
        bind_on(table, "198.51.100.1", port, port)
    assert table.free_port("198.51.100.1", 40000, 40003) is None


def test_address_helpers() -> None:
    assert is_any("0.0.0.0")
    assert is_any("::")
    assert not is_any("198.51.100.1")
    assert is_v6("2001:db8::1")
    assert not is_v6("198.51.100.1")
