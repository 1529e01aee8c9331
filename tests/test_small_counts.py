"""Counts shown to staff hide small groups, and a breakdown leaves none to subtract."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consentapp.services.small_counts import BELOW, MIN_GROUP, breakdown, figure


def test_a_count_below_the_threshold_is_hidden() -> None:
    assert [str(figure(n)) for n in (0, 1, 4, 5, 1234)] == [BELOW] * 3 + ["5", "1,234"]
    assert figure(3).export() == "< 5"
    assert figure(7).export() == 7


def test_a_lone_hidden_cell_takes_the_largest_shown_one_with_it() -> None:
    cells = breakdown({"a": 5, "b": 2, "c": 9, "d": 6})
    assert [str(cell) for cell in cells.values()] == ["5", "< 5", "—", "6"]
    assert cells["c"].export() == "withheld"
    # The smallest would be pinned: 13 in all, "5" shown, a withheld one at most 5.
    assert [str(c) for c in breakdown({"a": 3, "b": 5, "c": 5}).values()] == ["< 5", "—", "5"]
    assert [str(c) for c in breakdown({"a": 5, "b": 2}, total_shown=False).values()] == [
        "5",
        "< 5",
    ]


@given(st.dictionaries(st.text(max_size=3), st.integers(0, 40), max_size=8))
def test_no_hidden_cell_follows_from_the_total_and_the_others(counts: dict[str, int]) -> None:
    cells = breakdown(counts)
    hidden = [key for key, cell in cells.items() if cell.hidden]
    assert all(cell.hidden for key, cell in cells.items() if counts[key] < MIN_GROUP)
    assert len(hidden) != 1 or len(counts) == 1
