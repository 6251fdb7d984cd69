"""Bar charts drawn on the server as inline SVG: the geometry of a chart, computed here so that
its template only draws it. Every chart has a title, a description and a data table beside it,
so a screen reader (or a browser without SVG) reads the same numbers as the bars show."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 600
HEIGHT = 180
TOP = 12  # room for the largest bar's value
BOTTOM = 24  # room for the labels under the bars
LEFT = 8
GAP = 0.2  # of each bar's slot left empty
MAX_BAR = 48  # a chart of two types still draws bars, not walls


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    tick: str | None  # the text under the bar: 30 dates do not fit under 30 thin bars


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
    chart_id: str,
    title: str,
    unit: str,
    points: Sequence[tuple[str, int]],
    *,
    tick_every: int = 1,
    tick: Callable[[str], str] = str,
) -> Chart:
    """A chart of ``points`` (label, value) in their order, scaled to the largest value. Every
    ``tick_every``-th bar, counted back from the last (today), gets ``tick(label)`` under it."""
    slot = (WIDTH - 2 * LEFT) / max(len(points), 1)
    tallest = max((value for _, value in points), default=0)
    room = HEIGHT - TOP - BOTTOM
    bars = []
    for index, (label, value) in enumerate(points):
        height = room * value / tallest if tallest else 0.0
        width = min(slot * (1 - GAP), MAX_BAR)
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(LEFT + index * slot + (slot - width) / 2, 2),
                y=round(TOP + room - height, 2),
                width=round(width, 2),
                height=round(height, 2),
                tick=tick(label) if (len(points) - 1 - index) % tick_every == 0 else None,
            )
        )
    return Chart(
        id=chart_id, title=title, unit=unit, bars=bars, total=sum(value for _, value in points)
    )
