"""``tocsin serve`` sets start-up's objects aside from the garbage collector, and only
those: its garbage is collected first, and what is made later is collected as ever."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from tocsin.cli.runtime import settle_startup_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the other tests' objects stay collectable


def test_start_up_garbage_is_collected_and_the_rest_frozen(unfrozen: None) -> None:
    kept = [_Node()]  # in use: frozen
    garbage = weakref.ref(_Node())  # unreachable already: must not be frozen for ever
    settle_startup_heap()
    assert garbage() is None
    assert gc.get_freeze_count() > 0
    # The frozen are in no generation a collection walks.
    assert not any(o is kept[0] for o in gc.get_objects())
    later = weakref.ref(_Node())  # made after start-up: the collector still frees it
    gc.collect()
    assert later() is None
