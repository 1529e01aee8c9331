"""Small bar charts drawn on the server as SVG: no script, nothing from elsewhere.

The weekly consents are two charts, each on its own scale: thousands of confirmations
would flatten a handful of withdrawals to nothing on a shared one.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import format_date

from consentapp.services.dashboard import WeekPoint

WIDTH = 720
MARGIN_LEFT = 48
MARGIN_BOTTOM = 28
MARGIN_TOP = 12
MAX_TICKS = 5  # at most this many steps above zero


def nice_step(highest: int, steps: int = MAX_TICKS) -> int:
    """The smallest round step (1, 2 or 5 times a power of ten) that reaches `highest`
    in at most `steps` steps."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step * steps >= highest:
                return step
        magnitude *= 10


def round_ticks(highest: int) -> list[int]:
    """Axis values from 0 in round steps, the last one at or above `highest`."""
    step = nice_step(max(highest, 1))
    count = max(1, -(-max(highest, 1) // step))
    return [step * n for n in range(count + 1)]


@dataclass(frozen=True)
class Bar:
    """One rectangle of a chart."""

    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass(frozen=True)
class Chart:
    """Bars, axis ticks and labels, in SVG user units."""

    kind: str
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]
    labels: list[tuple[float, str]]
    baseline: float
    left: int = MARGIN_LEFT


def week_label(week: WeekPoint) -> str:
    """The week's first day, short, in the page's language ("14 sep")."""
    return str(format_date(week.start, "d MMM"))


def bar_chart(kind: str, points: list[tuple[str, int]], height: int) -> Chart:
    """One bar per point, on round ticks from zero to the highest value."""
    ticks = round_ticks(max([0, *(value for _, value in points)]))
    top = ticks[-1]
    plot_height = height - MARGIN_BOTTOM - MARGIN_TOP
    slot = (WIDTH - MARGIN_LEFT) / max(len(points), 1)
    bar_width = slot * 0.55
    baseline = height - MARGIN_BOTTOM
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for index, (label, value) in enumerate(points):
        left = MARGIN_LEFT + index * slot + (slot - bar_width) / 2
        bar_height = plot_height * value / top
        bars.append(Bar(left, baseline - bar_height, bar_width, bar_height, value, label))
        labels.append((left + bar_width / 2, label))
    tick_marks = [(baseline - plot_height * value / top, value) for value in ticks]
    return Chart(kind, WIDTH, height, bars, tick_marks, labels, baseline)


def weekly_charts(weeks: list[WeekPoint]) -> list[Chart]:
    """Confirmations per week, and below it withdrawals per week on their own scale."""
    labels = [week_label(week) for week in weeks]
    return [
        bar_chart("confirmed", list(zip(labels, (w.confirmed for w in weeks), strict=True)), 220),
        bar_chart("withdrawn", list(zip(labels, (w.withdrawn for w in weeks), strict=True)), 140),
    ]
