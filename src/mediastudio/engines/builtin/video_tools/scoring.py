"""Candidate segments from shots, and their ``viral_score`` (0-100) from sound and picture.

Per second of the source: loudness (RMS of the mono track in dBFS, floored at
:data:`SILENCE_DB`) and motion (the mean of the analysed frames' motion in that second, the frames
at cuts replaced by their neighbours' so a cut is not "motion"). A segment's components, each 0..1:

- ``loudness``: its mean loudness placed between the source's 10th and 95th percentiles;
- ``peaks``: the share of its seconds at or above the source's 90th percentile of loudness (and
  above :data:`PEAK_FLOOR_DB`, so a quiet video has no peaks);
- ``motion``: its mean motion placed between the source's 10th and 95th percentiles;
- ``pace``: cuts inside it per minute over :data:`BUSY_CUTS_PER_MIN` (capped at 1).

``viral_score = 100 * (0.35 loudness + 0.20 peaks + 0.30 motion + 0.15 pace)``.

The score is relative to the video it came from (the loudest, busiest stretch of any video scores
high): it ranks moments within one video, it does not compare videos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mediastudio.engines.builtin.video_tools.scenes import Floats

SILENCE_DB = -80.0
PEAK_FLOOR_DB = -45.0
BUSY_CUTS_PER_MIN = 12.0
WEIGHTS = {"loudness": 0.35, "peaks": 0.20, "motion": 0.30, "pace": 0.15}
_STRONG = 0.6  # a component at least this high is named in the clip's reason
_REASONS = {
    "loudness": "loud",
    "peaks": "loudness peaks",
    "motion": "high motion",
    "pace": "fast cutting",
}


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def overlaps(self, other: Segment) -> bool:
        return self.start_s < other.end_s - 1e-6 and other.start_s < self.end_s - 1e-6


@dataclass(frozen=True)
class Scored:
    segment: Segment
    score: float
    components: dict[str, float]

    @property
    def reason(self) -> str:
        strong = [_REASONS[k] for k, v in self.components.items() if v >= _STRONG]
        return ", ".join(strong) if strong else "best available moment"


def loudness_per_second(samples: Floats, rate: int, seconds: int) -> Floats:
    """RMS loudness in dBFS of each whole second (the last one partial), ``seconds`` long."""
    out = np.full(seconds, SILENCE_DB)
    for k in range(seconds):
        part = samples[k * rate : (k + 1) * rate]
        if len(part):
            rms = math.sqrt(float(np.mean(np.square(part, dtype=np.float64))))
            out[k] = max(SILENCE_DB, 20 * math.log10(max(rms, 1e-12)))
    return out


def motion_per_second(times: Floats, motion: Floats, cuts: list[float], seconds: int) -> Floats:
    """The mean motion of the analysed frames in each second, a cut frame counting as the median
    motion of the frames around it."""
    values = motion.copy()
    cut_set = {round(c, 6) for c in cuts}
    for i, t in enumerate(times):
        if round(float(t), 6) in cut_set:
            around = np.concatenate([motion[max(1, i - 3) : i], motion[i + 1 : i + 4]])
            values[i] = float(np.median(around)) if len(around) else 0.0
    out = np.zeros(seconds)
    index = np.minimum(np.floor(times).astype(int), seconds - 1)
    for k in range(seconds):
        chosen = values[index == k]
        out[k] = float(chosen.mean()) if len(chosen) else (out[k - 1] if k else 0.0)
    return out


def candidates(cuts: list[float], duration_s: float, min_s: float, max_s: float) -> list[Segment]:
    """Segments between ``min_s`` and ``max_s`` long: runs of whole shots (short shots merged),
    and windows of ``max_s`` inside shots too long to fit (long shots split, half overlapping)."""
    bounds = [0.0, *[c for c in cuts if 0.0 < c < duration_s], duration_s]
    found: set[Segment] = set()
    for i, start in enumerate(bounds[:-1]):
        aligned = False
        for end in bounds[i + 1 :]:
            length = end - start
            if length > max_s + 1e-6:
                break
            if length >= min_s - 1e-6:
                found.add(Segment(start, end))
                aligned = True
        if not aligned and duration_s - start >= min_s - 1e-6:
            found.add(Segment(start, min(duration_s, start + max_s)))
        shot_end = bounds[i + 1]
        if shot_end - start > max_s:
            step = max_s / 2
            t = start + step
            while t + max_s < shot_end:
                found.add(Segment(t, t + max_s))
                t += step
            found.add(Segment(shot_end - max_s, shot_end))
    if not found and duration_s >= min_s - 1e-6:
        found.add(Segment(0.0, min(duration_s, max_s)))
    return sorted(found, key=lambda s: (s.start_s, s.end_s))


class _Integral:
    """Means of a per-second step function over any ``[a, b)``, in O(1) per query."""

    def __init__(self, per_second: Floats) -> None:
        self.cumulative = np.concatenate([[0.0], np.cumsum(per_second)])
        self.grid = np.arange(len(self.cumulative), dtype=np.float64)

    def mean(self, a: float, b: float) -> float:
        if b <= a:
            return 0.0
        low, high = np.interp([a, b], self.grid, self.cumulative)
        return float(high - low) / (b - a)


def _spread(values: Floats, low_q: float, high_q: float) -> tuple[float, float]:
    if not len(values):
        return 0.0, 0.0
    return float(np.percentile(values, low_q)), float(np.percentile(values, high_q))


def _place(value: float, low: float, high: float, minimum_span: float, dead: float) -> float:
    """``value`` between ``low`` and ``high`` as 0..1; a flat source gives 0.5 (or 0 when even
    its top is at or below ``dead``)."""
    if high <= dead:
        return 0.0
    if high - low < minimum_span:
        return 0.5
    return min(1.0, max(0.0, (value - low) / (high - low)))


def score_segments(
    segments: list[Segment], loudness_db: Floats, motion: Floats, cuts: list[float]
) -> list[Scored]:
    """Each segment with its ``viral_score`` and components (see the module's docstring)."""
    loud_low, loud_high = _spread(loudness_db, 10, 95)
    peak_level = max(PEAK_FLOOR_DB, _spread(loudness_db, 10, 90)[1])
    move_low, move_high = _spread(motion, 10, 95)
    loud = _Integral(loudness_db)
    peaks = _Integral((loudness_db >= peak_level).astype(np.float64))
    moving = _Integral(motion)
    scored = []
    for segment in segments:
        a, b = segment.start_s, segment.end_s
        inside = sum(1 for c in cuts if a + 1e-6 < c < b - 1e-6)
        components = {
            "loudness": _place(loud.mean(a, b), loud_low, loud_high, 3.0, PEAK_FLOOR_DB),
            "peaks": peaks.mean(a, b) if loud_high > PEAK_FLOOR_DB else 0.0,
            "motion": _place(moving.mean(a, b), move_low, move_high, 1e-3, 1e-3),
            "pace": min(1.0, inside / max(b - a, 1e-6) * 60.0 / BUSY_CUTS_PER_MIN),
        }
        score = 100.0 * sum(WEIGHTS[k] * v for k, v in components.items())
        scored.append(Scored(segment, round(score, 1), components))
    return scored


def pick(scored: list[Scored], count: int, threshold: float) -> list[Scored]:
    """The best ``count`` segments scoring at least ``threshold`` that do not overlap, best first
    (ties: the longer, then the earlier)."""
    ranked = sorted(scored, key=lambda s: (-s.score, -s.segment.duration_s, s.segment.start_s))
    chosen: list[Scored] = []
    for candidate in ranked:
        if candidate.score < threshold:
            break
        if all(not candidate.segment.overlaps(c.segment) for c in chosen):
            chosen.append(candidate)
            if len(chosen) == count:
                break
    return chosen
