"""The form of a piece: how many bars fit the requested length, and which sections they make."""

from __future__ import annotations

import math

from mediastudio.engines.builtin.composer.score import Section

BEATS_PER_BAR = 4
MIN_ENDING_S = 1.0  # the final chord rings at least this long


def body_bars(duration_s: float, bpm: float) -> int:
    """Whole bars that fit before the final chord, which then lasts to the requested end."""
    bar_s = BEATS_PER_BAR * 60.0 / bpm
    return max(0, math.floor((duration_s - MIN_ENDING_S) / bar_s))


def plan_sections(bars: int) -> list[Section]:
    """Intro, alternating A and B sections (a breakdown in the middle of long pieces), outro."""
    if bars == 0:
        return []
    intro = 0 if bars < 3 else 1 if bars < 8 else 2 if bars <= 24 else 4
    outro = 0 if bars < 6 else 2 if bars < 24 else 4
    sections = [Section("intro", 0, intro)] if intro else []
    sizes = _chunks(bars - intro - outro)
    first = intro
    names = ["a", "b"]
    for index, size in enumerate(sizes):
        name = names[index % 2]
        if len(sizes) >= 6 and index == len(sizes) // 4 * 2:  # an A slot mid-piece
            name = "breakdown"
        sections.append(Section(name, first, size))
        first += size
    if outro:
        sections.append(Section("outro", first, outro))
    return sections


def _chunks(bars: int) -> list[int]:
    """Split ``bars`` into sections of 8 (4 in short pieces); a short remainder joins the last."""
    if bars <= 0:
        return []
    size = 8 if bars >= 16 else 4
    sizes = [size] * (bars // size)
    rest = bars - sum(sizes)
    if not sizes:
        return [rest]
    if rest >= 4:
        sizes.append(rest)
    else:
        sizes[-1] += rest
    return sizes
