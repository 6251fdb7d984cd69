"""Caption cues timed to speech: each spoken sentence split into short, evenly sized chunks (at
most :data:`MAX_WORDS` words, the way short-form video captions read), each shown for a share of
the sentence's time proportional to its length in characters; burned in with the shared caption
renderer (:mod:`mediastudio.engines.media.captions`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from mediastudio.engines.media.captions import CaptionBurner, CaptionStyle, Cue
from mediastudio.engines.media.video import Frame

MAX_WORDS = 5
# Over the bottom of a portrait frame sit TikTok's and Reels' own captions and buttons.
PORTRAIT_MARGIN = 0.2
LANDSCAPE_MARGIN = 0.08
PORTRAIT_FONT = 0.075  # of the width: about 20 characters a line
LANDSCAPE_FONT = 0.055  # of the height


def sentence_cues(
    sentences: Sequence[str], spans: Sequence[tuple[float, float]], max_words: int = MAX_WORDS
) -> list[Cue]:
    """Cues for ``sentences`` spoken at ``spans`` (start, end seconds), one span per sentence."""
    cues: list[Cue] = []
    for sentence, (start, end) in zip(sentences, spans, strict=True):
        words = sentence.split()
        if not words:
            continue
        pieces = math.ceil(len(words) / max_words)
        size = math.ceil(len(words) / pieces)
        chunks = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
        if end <= start:
            continue
        weights = [len(chunk) + 1 for chunk in chunks]
        total = float(sum(weights))
        at = start
        for chunk, weight in zip(chunks, weights, strict=True):
            length = (end - start) * weight / total
            cues.append(Cue(round(at, 3), round(at + length, 3), chunk))
            at += length
    return cues


def caption_overlay(
    cues: Sequence[Cue], width: int, height: int
) -> Callable[[Frame, float], Frame]:
    """A frame overlay burning ``cues`` in: white on a translucent box, clear of the platform UI
    at the bottom of portrait frames. Call it with increasing times."""
    portrait = height >= width
    style = CaptionStyle(
        font_size=max(10, round(width * PORTRAIT_FONT if portrait else height * LANDSCAPE_FONT)),
        margin=PORTRAIT_MARGIN if portrait else LANDSCAPE_MARGIN,
        max_width=0.86,
    )
    return CaptionBurner(cues, width, height, style).burn
