"""Bar charts drawn on the server as inline SVG: the geometry of a chart, computed here so that
its template only draws it. Every chart has a title, a description and a data table beside it,
so a screen reader (or a browser without SVG) reads the same numbers as the bars show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
HEIGHT = 180
TOP = 12  # room for the largest bar's value
BOTTOM = 24  # room for the labels under the bars
LEFT = 8
GAP = 0.2  # of each bar's slot left empty


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    show_label: bool  # 30 daily labels do not fit under 30 thin bars: every fifth one does


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    unit: str
    bars: Sequence[Bar]
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    baseline: float = HEIGHT - BOTTOM

    @property
    def description(self) -> str:
        peak = max(self.bars, key=lambda bar: bar.value, default=None)
        if peak is None or peak.value == 0:
            return f"No {self.unit} in this period."
        return (
            f"{self.total} {self.unit} in all over {len(self.bars)} bars; "
            f"the most, {peak.value}, at {peak.label}."
        )


def bar_chart(
    chart_id: str, title: str, unit: str, points: Sequence[tuple[str, int]], *, label_every: int = 1
) -> Chart:
    """A chart of ``points`` (label, value) in their order, scaled to the largest value."""
    slot = (WIDTH - 2 * LEFT) / max(len(points), 1)
    tallest = max((value for _, value in points), default=0)
    room = HEIGHT - TOP - BOTTOM
    bars = []
    for index, (label, value) in enumerate(points):
        height = room * value / tallest if tallest else 0.0
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(LEFT + index * slot + slot * GAP / 2, 2),
                y=round(TOP + room - height, 2),
                width=round(slot * (1 - GAP), 2),
                height=round(height, 2),
                show_label=index % label_every == 0 or index == len(points) - 1,
            )
        )
    return Chart(
        id=chart_id, title=title, unit=unit, bars=bars, total=sum(value for _, value in points)
    )
