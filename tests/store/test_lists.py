"""Lists in SQL text padded to a power of two (tocsin.store.lists, issue 11)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.store.lists import marks, padded, padded_chunks


@given(st.lists(st.integers(), max_size=600))
def test_a_list_is_padded_with_its_last_value_to_a_power_of_two(values: list[int]) -> None:
    out = list(padded(values))
    assert out[: len(values)] == values
    assert set(out) == set(values)  # only copies of the last value are added
    assert all(v == values[-1] for v in out[len(values) :])
    if values:
        size = len(out)  # the least power of two that holds them
        assert size & (size - 1) == 0
        assert len(values) <= size < 2 * len(values)
    else:
        assert out == []


def test_the_lengths_of_a_statement_are_few() -> None:
    sizes = {len(padded(list(range(n)))) for n in range(1, 513)}
    assert sizes == {1, 2, 4, 8, 16, 32, 64, 128, 256, 512}


@given(st.lists(st.integers(), max_size=1300), st.sampled_from([1, 3, 500]))
def test_chunks_keep_every_value_once_in_order_each_padded(values: list[int], size: int) -> None:
    chunks = [list(c) for c in padded_chunks(values, size)]
    assert len(chunks) == -(-len(values) // size)  # as few as the size allows
    kept = [c[: min(size, len(values) - i * size)] for i, c in enumerate(chunks)]
    assert [v for c in kept for v in c] == values
    assert all(list(padded(k)) == c for k, c in zip(kept, chunks, strict=True))


def test_marks() -> None:
    assert marks(3) == "?, ?, ?"
    assert marks(1) == "?"
    assert marks(0) == ""
