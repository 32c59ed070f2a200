"""analytics/metering/distinct.py: ids read from PostgreSQL's `array_send` payloads, and the
distinct counts of windows and groups, dense or sorted, equal to what Python's sets count."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.metering import distinct
from analytics.metering.distinct import DistinctCounter, decode, dictionary_size, union_size


def payload(ids: list[int]) -> bytes:
    """The elements of int4 arrays as `array_send` writes them past the header: for each, its
    length (4) and its value, big-endian (what distinct_statement concatenates)."""
    return b"".join(struct.pack(">ii", 4, value) for value in ids)


any_ids = st.lists(st.integers(min_value=1, max_value=2**31 - 1), max_size=50)
# Few ids, so that windows and groups share many of them.
window_ids = st.lists(st.integers(min_value=1, max_value=40), max_size=25)
# A group's windows: each one's ids, and whether it comes as one row's ids (distinct already).
groups = st.lists(st.lists(st.tuples(window_ids, st.booleans()), max_size=5), max_size=6)


class TestDecode:
    @given(rows=st.lists(any_ids, max_size=4))
    def test_gives_the_ids_of_concatenated_payloads_in_order(self, rows: list[list[int]]) -> None:
        joined = b"".join(payload(ids) for ids in rows)

        decoded = decode(joined)

        assert decoded.dtype == np.dtype(np.int32)  # native order, not big-endian
        assert decoded.tolist() == [value for ids in rows for value in ids]
        assert decode(memoryview(joined)).tolist() == decoded.tolist()

    @pytest.mark.parametrize("nothing", [None, b""])
    def test_no_payload_gives_no_ids(self, nothing: bytes | None) -> None:
        decoded = decode(nothing)

        assert (decoded.tolist(), decoded.dtype) == ([], np.dtype(np.int32))


def counted(windows_of_groups: list[list[tuple[list[int], bool]]]) -> list[tuple[list[int], int]]:
    """Each group's window counts and total, by a counter sized as the engine sizes it."""
    arrays = [
        [(np.array(sorted(set(ids)) if one_row else ids, dtype=np.int32), one_row)
         for ids, one_row in windows]
        for windows in windows_of_groups
    ]  # fmt: skip
    counter = DistinctCounter(dictionary_size(ids for windows in arrays for ids, _ in windows))
    found = []
    for windows in arrays:
        counter.next_group()
        counts = [counter.window(ids, distinct_already=one_row) for ids, one_row in windows]
        found.append((counts, counter.group_total()))
    return found


class TestDistinctCounter:
    @pytest.mark.parametrize("dense", [True, False])
    @given(windows_of_groups=groups)
    def test_counts_what_sets_count(
        self, dense: bool, windows_of_groups: list[list[tuple[list[int], bool]]]
    ) -> None:
        expected = [
            (
                [len(set(ids)) for ids, _ in windows],
                len({value for ids, _ in windows for value in ids}),
            )
            for windows in windows_of_groups
        ]

        with pytest.MonkeyPatch.context() as patch:
            if not dense:  # every dictionary is too big for the dense arrays: sort instead
                patch.setattr(distinct, "DENSE_LIMIT", 0)
            assert counted(windows_of_groups) == expected

    @pytest.mark.parametrize(("size", "dense"), [(10, True), (11, False)])
    def test_counts_densely_up_to_the_limit_and_by_sorting_above_it(
        self, monkeypatch: pytest.MonkeyPatch, size: int, dense: bool
    ) -> None:
        monkeypatch.setattr(distinct, "DENSE_LIMIT", 10)

        counter = DistinctCounter(size)

        assert counter.dense is dense
        counter.next_group()
        assert counter.window(np.array([3, 1, 3], dtype=np.int32), distinct_already=False) == 2
        assert counter.window(np.array([1, 2], dtype=np.int32), distinct_already=True) == 2
        assert counter.group_total() == 3
        counter.next_group()
        assert counter.group_total() == 0  # a new group starts from nothing


@given(rows=st.lists(any_ids, max_size=5))
def test_dictionary_size_is_one_more_than_the_largest_id(rows: list[list[int]]) -> None:
    arrays = [np.array(ids, dtype=np.int32) for ids in rows]

    assert dictionary_size(arrays) == max((max(ids) for ids in rows if ids), default=0) + 1


@given(groups_of_values=st.lists(st.lists(st.sampled_from(["a", "b", "", "7", "é"]))))
def test_union_size_counts_each_raw_value_once(groups_of_values: list[list[str]]) -> None:
    expected = len({value for values in groups_of_values for value in values})

    assert union_size(groups_of_values) == expected
