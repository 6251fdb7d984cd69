"""Where a clip may be cut without cutting a word: the pauses between the words of a transcript.

A cut time inside a word (or closer than :data:`MARGIN_S` to one) moves to the nearest point of
a pause at most :data:`TOLERANCE_S` away: :data:`MARGIN_S` clear of the words on both sides, or
the pause's middle when it is narrower than twice that. A word longer than the tolerance allows
(nothing near enough) keeps the cut where it was. Moving to the nearest allowed point keeps
cuts in order, so clips that did not overlap still do not.
"""

from __future__ import annotations

from collections.abc import Sequence

from mediastudio.engines.media.transcripts import Word

TOLERANCE_S = 0.5  # the most a cut moves: the clip stays the moment the scores chose
MARGIN_S = 0.05  # a word's edge is where its sound fades: keep a little off it


def allowed_spans(words: Sequence[Word], duration_s: float) -> list[tuple[float, float]]:
    """The stretches of ``[0, duration_s]`` a cut may fall in: the pauses between words, less
    the margin (a narrow pause's middle alone)."""
    spans = []
    previous_end = 0.0
    lead = 0.0  # no margin before the first word: the video's start is a pause's edge
    for word in sorted(words, key=lambda w: (w.start, w.end)):
        if word.start > previous_end:
            spans.append(_inside(previous_end, word.start, lead, MARGIN_S))
        previous_end, lead = max(previous_end, word.end), MARGIN_S
    if duration_s > previous_end:
        spans.append(_inside(previous_end, duration_s, lead, 0.0))
    elif duration_s == previous_end:
        spans.append((duration_s, duration_s))
    return spans


def _inside(start: float, end: float, lead: float, trail: float) -> tuple[float, float]:
    if end - start >= lead + trail:
        return start + lead, end - trail
    middle = (start + end) / 2
    return middle, middle


def snap(time_s: float, spans: Sequence[tuple[float, float]]) -> float:
    """``time_s`` moved to the nearest allowed point within :data:`TOLERANCE_S` (the earlier
    one on a tie), or kept where it is when it is allowed already or nothing is near enough."""
    best: float | None = None
    for start, end in spans:
        if start <= time_s <= end:
            return time_s
        point = start if time_s < start else end
        if best is None or abs(point - time_s) < abs(best - time_s):
            best = point
    if best is None or abs(best - time_s) > TOLERANCE_S:
        return time_s
    return round(best, 3)


def cut_between_words(
    start_s: float, end_s: float, words: Sequence[Word], duration_s: float
) -> tuple[float, float]:
    """A clip's ``[start_s, end_s)`` with both ends moved off the words (see the module)."""
    if not words:
        return start_s, end_s
    spans = allowed_spans(words, duration_s)
    start, end = snap(start_s, spans), snap(end_s, spans)
    return (start, end) if end > start else (start_s, end_s)
