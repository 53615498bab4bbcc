"""The console's bind store: counts by state, filter-as-you-type and sort orders."""

from __future__ import annotations

import dataclasses

from console.tui.store import SORTS, BindStore, haystack
from engine.admin.snapshots import BindSnapshot


def bind(bind_id: int, state: str = "pending", **fields: object) -> BindSnapshot:
    base = BindSnapshot(
        bind_id, 1, "127.0.0.5", None, "tcp", "127.0.0.1", 40000 + bind_id, state,
        None, None, 0, None, 0, (), (), None, None, float(bind_id), None,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_counts_follow_state_changes_and_removals() -> None:
    store = BindStore()
    store.put(bind(1))
    store.put(bind(2))
    store.put(bind(1, "allowed"))
    assert store.states["pending"] == 1
    assert store.states["allowed"] == 1
    store.remove(2)
    assert store.states["pending"] == 0
    assert len(store) == 1


def test_pending_binds_come_first_by_default() -> None:
    store = BindStore()
    store.replace_all([bind(1, "allowed"), bind(2), bind(3, "terminating"), bind(4)])
    assert [item.id for item in store.matching("", next(iter(SORTS)))] == [2, 4, 1, 3]


def test_other_sort_orders() -> None:
    store = BindStore()
    store.replace_all(
        [
            bind(1, discarded=(("pending", 5),), accepted=1),
            bind(2, discarded=(("pending", 9),)),
            bind(3, accepted=7),
        ]
    )
    assert [item.id for item in store.matching("", "most discards")] == [2, 1, 3]
    assert [item.id for item in store.matching("", "most accepted")] == [3, 1, 2]
    assert [item.id for item in store.matching("", "newest")] == [3, 2, 1]
    assert [item.id for item in store.matching("", "id")] == [1, 2, 3]


def test_filter_matches_any_column_case_insensitively() -> None:
    store = BindStore()
    store.replace_all(
        [bind(1, user="alice"), bind(2, transport="udp"), bind(3, protocol_name="FTP")]
    )
    assert [item.id for item in store.matching("ALICE", "id")] == [1]
    assert [item.id for item in store.matching("udp", "id")] == [2]
    assert [item.id for item in store.matching("ftp", "id")] == [3]
    assert "pending" in haystack(bind(1))


def test_a_state_change_moves_a_row_only_in_orders_that_look_at_state() -> None:
    old, new = bind(1), bind(1, "allowed")
    assert BindStore.moves_in_sort(old, new, "pending first")
    assert not BindStore.moves_in_sort(old, new, "id")
    assert BindStore.moves_in_sort(None, new, "id")
