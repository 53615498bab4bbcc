"""Garbage-collector pacing: no long pauses on a big screen, and no cyclic garbage kept for good."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from console.tui.main_screen import FULL_COLLECTION_EVERY, pace_collector


class Node:
    """An object that can be part of a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_survivors_are_frozen_each_second_and_freed_by_the_full_collection(
    unfrozen: None,
) -> None:
    first, second = Node(), Node()
    first.other, second.other = second, first
    alive = weakref.ref(first)
    del first, second
    pace_collector(1)
    assert gc.get_freeze_count() > 0
    gc.collect()
    assert alive() is not None, "a frozen cycle is not scanned by ordinary collections"
    pace_collector(FULL_COLLECTION_EVERY)
    assert alive() is None, "the periodic full collection frees it"
    assert gc.get_freeze_count() > 0
