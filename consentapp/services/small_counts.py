"""Figures that cannot single anyone out: every count of people (or of what people
did) that staff see in a report, an export or the API passes through here, and a
count below `MIN_GROUP` is shown as "< 5", never as itself.

A breakdown hides one more cell when exactly one is hidden and the total is known,
since the hidden one would otherwise follow by subtraction ("12 in all, 5 and 5
shown" reveals a 2). It hides the largest cell left: that tells only that the hidden
large one is at least every cell shown, which bounds the small one by nothing it did
not already have (below 5). The smallest would bound the large one from above and
could pin both ("13 in all, 5 shown, the withheld one at most 5": 5 and 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")

MIN_GROUP = 5
BELOW = f"< {MIN_GROUP}"
# A figure of 5 or more hidden only so that a smaller one cannot be worked out.
WITHHELD = "—"
WITHHELD_EXPORT = "withheld"


@dataclass(frozen=True)
class Figure:
    """A count as staff may see it: `value` is None when it is hidden, `withheld`
    when it is hidden although not small (to protect a small one beside it)."""

    value: int | None
    withheld: bool = False

    @property
    def hidden(self) -> bool:
        return self.value is None

    def __str__(self) -> str:
        if self.value is None:
            return WITHHELD if self.withheld else BELOW
        return f"{self.value:,}"

    def export(self) -> int | str:
        """The figure for CSV and JSON: the number, "< 5", or "withheld"."""
        if self.value is None:
            return WITHHELD_EXPORT if self.withheld else BELOW
        return self.value


def figure(count: int) -> Figure:
    """One count on its own: hidden below the threshold (zero included: "nobody"
    is as telling as "one person")."""
    return Figure(None if count < MIN_GROUP else count)


def breakdown(counts: Mapping[K, int], *, total_shown: bool = True) -> dict[K, Figure]:
    """Each cell of a breakdown (per link, per day, per language, per answer) as a
    Figure, in the order given. With `total_shown` (the total of the cells is printed
    beside them), a lone hidden cell takes the largest shown cell with it, so no cell
    can be worked out from the others (the largest, see above)."""
    shown = {key: figure(count) for key, count in counts.items()}
    hidden = [key for key, cell in shown.items() if cell.hidden]
    if total_shown and len(hidden) == 1:
        visible = [key for key, cell in shown.items() if not cell.hidden]
        if visible:
            largest = max(visible, key=lambda key: counts[key])
            shown[largest] = Figure(None, withheld=True)
    return shown
