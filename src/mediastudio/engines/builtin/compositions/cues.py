"""Caption cues timed to speech: each spoken sentence split into short, evenly sized chunks (at
most :data:`MAX_WORDS` words, the way short-form video captions read), each shown for a share of
the sentence's time proportional to its length in characters."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from mediastudio.engines.media.video import Frame

MAX_WORDS = 5


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


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
        weights = [len(chunk) + 1 for chunk in chunks]
        total = float(sum(weights))
        at = start
        for chunk, weight in zip(chunks, weights, strict=True):
            length = (end - start) * weight / total
            cues.append(Cue(round(at, 3), round(at + length, 3), chunk))
            at += length
    return cues


def cue_at(cues: Sequence[Cue], seconds: float) -> Cue | None:
    for cue in cues:
        if cue.start_s <= seconds < cue.end_s:
            return cue
    return None


# --- burning cues in -----------------------------------------------------------------------------
# Provisional: replaced by engines/media/captions.py's renderer once it lands.

TEXT_SHARE = 0.065  # of the frame's short side (a little more in portrait)
BOX_ALPHA = 0.6
LINE_POSITION = 0.78  # of the frame's height: the caption's centre, above platform UI


def caption_overlay(
    cues: Sequence[Cue], width: int, height: int
) -> Callable[[Frame, float], Frame]:
    """A frame overlay that draws the cue on screen at each time (each cue drawn once)."""
    patches: dict[int, tuple[int, int, NDArray[np.float32], NDArray[np.float32]]] = {}

    def draw(frame: Frame, seconds: float) -> Frame:
        index = next((i for i, c in enumerate(cues) if c.start_s <= seconds < c.end_s), None)
        if index is None:
            return frame
        cue = cues[index]
        if index not in patches:
            patches[index] = _patch(cue.text, width, height)
        left, top, colour, alpha = patches[index]
        out = frame.copy()
        region = out[top : top + alpha.shape[0], left : left + alpha.shape[1]].astype(np.float32)
        blended = region * (1 - alpha) + colour * alpha
        out[top : top + alpha.shape[0], left : left + alpha.shape[1]] = blended.astype(np.uint8)
        return out

    return draw


def _patch(
    text: str, width: int, height: int
) -> tuple[int, int, NDArray[np.float32], NDArray[np.float32]]:
    size = max(8, round(min(width, height) * TEXT_SHARE * max(1.0, height / width) ** 0.5))
    font = ImageFont.load_default(size=size)
    room = int(width * 0.9)
    while font.getlength(text) > room - size and size > 8:
        size = max(8, int(size * 0.9))
        font = ImageFont.load_default(size=size)
    text_w = math.ceil(font.getlength(text))
    box_w, box_h = min(width, text_w + size), min(height, round(size * 1.6))
    image = Image.new("RGBA", (box_w, box_h), (0, 0, 0, round(255 * BOX_ALPHA)))
    ImageDraw.Draw(image).text(
        (box_w / 2, box_h / 2), text, font=font, fill=(255, 255, 255, 255), anchor="mm"
    )
    rgba = np.asarray(image, dtype=np.float32) / 255.0
    left = (width - box_w) // 2
    top = min(height - box_h, max(0, round(height * LINE_POSITION - box_h / 2)))
    return left, top, rgba[..., :3] * 255.0, rgba[..., 3:]
