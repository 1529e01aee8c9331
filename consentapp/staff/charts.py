"""A small bar chart drawn on the server as SVG: no script, nothing from elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

from consentapp.services.dashboard import WeekPoint

WIDTH = 720
HEIGHT = 220
MARGIN_LEFT = 36
MARGIN_BOTTOM = 28
MARGIN_TOP = 12
TICKS = 4


@dataclass(frozen=True)
class Bar:
    """One rectangle of the chart."""

    x: float
    y: float
    width: float
    height: float
    kind: str
    value: int
    label: str


@dataclass(frozen=True)
class Chart:
    """Bars, axis ticks and labels, in SVG user units."""

    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]
    labels: list[tuple[float, str]]
    baseline: float


def weekly_chart(weeks: list[WeekPoint]) -> Chart:
    """Two bars per week: confirmations and withdrawals."""
    highest = max([0, *(w.confirmed for w in weeks), *(w.withdrawn for w in weeks)])
    top = max(TICKS, -(-highest // TICKS) * TICKS)  # a multiple of TICKS: whole-number ticks
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    slot = (WIDTH - MARGIN_LEFT) / max(len(weeks), 1)
    bar_width = slot * 0.35
    baseline = HEIGHT - MARGIN_BOTTOM
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for index, week in enumerate(weeks):
        left = MARGIN_LEFT + index * slot + slot * 0.12
        label = week.start.strftime("%d/%m")
        for offset, kind, value in (
            (0.0, "confirmed", week.confirmed),
            (bar_width, "withdrawn", week.withdrawn),
        ):
            height = plot_height * value / top
            bars.append(
                Bar(left + offset, baseline - height, bar_width, height, kind, value, label)
            )
        labels.append((left + bar_width, label))
    ticks = [
        (baseline - plot_height * step / TICKS, top * step // TICKS) for step in range(TICKS + 1)
    ]
    return Chart(WIDTH, HEIGHT, bars, ticks, labels, baseline)
