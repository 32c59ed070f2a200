"""analytics/metering/distinct.py: ids read from PostgreSQL's `array_send` payloads, and the
distinct counts of windows and groups, dense or sorted, equal to what Python's sets count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.metering import distinct
from analytics.metering.distinct import DistinctCounter, decode

any_ids = st.lists(st.integers(min_value=1, max_value=2**31 - 1), max_size=50)
# Few ids, so that windows and groups share many of them.
window_ids = st.lists(st.integers(min_value=1, max_value=40), max_size=25)
# A group's windows: each one's ids, and whether it comes as one row's ids (distinct already).
groups = st.lists(st.lists(st.tuples(window_ids, st.booleans()), max_size=5), max_size=6)


def counted(windows_of_groups: list[list[tuple[list[int], bool]]]) -> list[tuple[list[int], int]]:
    """Each group's window counts and total, as the engine asks for them: a group's windows'
    ids in one array, cut by bounds."""
    largest = max(
        (max(ids) for windows in windows_of_groups for ids, _ in windows if ids), default=0
    )
    counter = DistinctCounter(largest + 1)
    found = []
    for windows in windows_of_groups:
        if not windows:
            continue
        arrays = [sorted(set(ids)) if one_row else ids for ids, one_row in windows]
        bounds = [0]
        for ids in arrays:
            bounds.append(bounds[-1] + len(ids))
        joined = np.array([value for ids in arrays for value in ids], dtype=np.int32)
        counts = counter.group(joined, bounds, [one_row for _, one_row in windows])
        found.append((counts[:-1], counts[-1]))
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
            if windows
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
        ids = np.array([3, 1, 3, 1, 2], dtype=np.int32)
        # window 1: three ids from several rows; window 2: one row's ids; the group: 3 ids
        assert counter.group(ids, [0, 3, 5], [False, True]) == [2, 2, 3]
        assert counter.count(np.array([], dtype=np.int32)) == 0
        assert counter.count(np.array([7, 7, 7], dtype=np.int32)) == 1


@given(ids=any_ids)
def test_decode_reads_ids_as_rollup_rows_keep_them(ids: list[int]) -> None:
    packed = b"".join(value.to_bytes(4, "big") for value in ids)

    decoded = decode(packed)

    assert decoded.dtype == np.dtype(np.int32)
    assert decoded.tolist() == ids
    assert decode(None).tolist() == decode(b"").tolist() == []
