"""Captions: parse SRT / WebVTT / timed segments into cues, and burn cues into video frames.

Parsing turns user text into a sorted list of :class:`Cue` (times in seconds from the start of
the video, plain text with line breaks kept and markup removed). Rendering draws one cue's text,
wrapped to the frame, on a background box as a small RGBA patch; :class:`CaptionBurner` keeps the
patch of the cue on screen, so each frame costs one alpha blend over the box only. Any engine that
puts timed text on video (subtitles, a commercial's script timed to its speech) uses this module.

The font is Pillow's bundled scalable font (``ImageFont.load_default(size=…)``, Pillow ≥ 10.1):
no font file or network access is needed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from mediastudio.engines.contract import InvalidInput

Position = Literal["bottom", "top", "center"]
RGBA = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

MAX_CUES = 5000
MAX_CUE_CHARS = 1000
MAX_CUE_TIME_S = 24 * 3600.0

_TIME = re.compile(r"(?:(\d{1,3}):)?([0-5]?\d):([0-5]\d)[,.](\d{1,3})")
_TIMING = re.compile(rf"^\s*({_TIME.pattern})\s*-->\s*({_TIME.pattern})(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>")
_BRACE_TAG = re.compile(r"\{\\[^}]*\}")  # SSA-style overrides some SRT files carry: {\an8}


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


# Parsing -------------------------------------------------------------------------------------


def _seconds(stamp: str) -> float:
    match = _TIME.fullmatch(stamp.strip())
    if match is None:
        raise InvalidInput(f"Not a subtitle timestamp: {stamp!r}")
    hours, minutes, seconds, fraction = match.groups()
    millis = int(fraction.ljust(3, "0"))
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + millis / 1000


def _clean(text: str) -> str:
    text = _BRACE_TAG.sub("", _TAG.sub("", text))
    lines = [
        " ".join(html.unescape(line).replace("\u00a0", " ").split()) for line in text.split("\n")
    ]
    return "\n".join(line for line in lines if line)


def _blocks(text: str) -> list[list[str]]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _cues_from_blocks(blocks: Iterable[list[str]], kind: str) -> list[Cue]:
    cues: list[Cue] = []
    for block in blocks:
        timing_at = next((i for i, line in enumerate(block) if "-->" in line), None)
        if timing_at is None:
            continue  # an SRT stray line, a VTT NOTE / STYLE / REGION block
        if timing_at > 1:
            raise InvalidInput(f"Malformed {kind} cue near {block[0][:60]!r}.")
        match = _TIMING.match(block[timing_at])
        if match is None:
            raise InvalidInput(f"Malformed {kind} timing line: {block[timing_at][:80]!r}")
        start, end = _seconds(match.group(1)), _seconds(match.group(6))
        text = _clean("\n".join(block[timing_at + 1 :]))
        if text:
            cues.append(_checked(start, end, text))
    return _finish(cues, kind)


def parse_srt(text: str) -> list[Cue]:
    """SubRip: numbered blocks of ``00:00:01,000 --> 00:00:02,500`` and text lines."""
    return _cues_from_blocks(_blocks(text), "SRT")


def parse_vtt(text: str) -> list[Cue]:
    """WebVTT: a ``WEBVTT`` header, then cues with optional identifiers and cue settings."""
    blocks = _blocks(text)
    if not blocks or not blocks[0][0].startswith("WEBVTT"):
        raise InvalidInput("A WebVTT file must start with 'WEBVTT'.")
    header, *rest = blocks
    if any("-->" in line for line in header[1:]):  # a cue right under the header line
        rest.insert(0, header[1:])
    return _cues_from_blocks(rest, "WebVTT")


def parse_subtitles(text: str) -> list[Cue]:
    """SRT or WebVTT, told apart by the ``WEBVTT`` header."""
    if text.lstrip("\ufeff \t\r\n").startswith("WEBVTT"):
        return parse_vtt(text)
    return parse_srt(text)


def cues_from_segments(segments: Iterable[tuple[float, float, str]]) -> list[Cue]:
    """``(start, end, text)`` triples, e.g. a speech engine's timed sentences."""
    cues = [_checked(start, end, _clean(text)) for start, end, text in segments]
    return _finish([cue for cue in cues if cue.text], "segment")


def _checked(start: float, end: float, text: str) -> Cue:
    if not 0 <= start < end <= MAX_CUE_TIME_S:
        raise InvalidInput(
            f"A cue must end after it starts, within {MAX_CUE_TIME_S:g} s: "
            f"{start:.3f} --> {end:.3f} ({text[:40]!r})."
        )
    if len(text) > MAX_CUE_CHARS:
        raise InvalidInput(f"A cue has more than {MAX_CUE_CHARS} characters.")
    return Cue(start, end, text)


def _finish(cues: list[Cue], kind: str) -> list[Cue]:
    if not cues:
        raise InvalidInput(f"No {kind} cues were found.")
    if len(cues) > MAX_CUES:
        raise InvalidInput(f"At most {MAX_CUES} cues are accepted, not {len(cues)}.")
    return sorted(cues, key=lambda cue: (cue.start, cue.end))


# Rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptionStyle:
    """How captions look. ``font_size`` is in pixels (``None``: 5 % of the frame's height);
    colours are RGBA; ``margin`` is a fraction of the frame's height from its edge."""

    font_size: int | None = None
    color: RGBA = (255, 255, 255, 255)
    background_color: RGBA = (0, 0, 0, 160)
    outline_width: int = 0
    outline_color: RGBA = (0, 0, 0, 255)
    position: Position = "bottom"
    margin: float = 0.06
    max_width: float = 0.9  # of the frame's width
    line_spacing: float = 0.25  # of the font size
    padding: float = 0.35  # of the font size, around the text inside the box

    def size_for(self, frame_height: int) -> int:
        return self.font_size or max(12, round(frame_height * 0.05))


def load_font(size: int) -> Font:
    """Pillow's bundled scalable font at ``size`` pixels (a bitmap font on a Pillow built
    without FreeType, which ignores the size)."""
    return ImageFont.load_default(size=size)


def wrap_text(text: str, font: Font, max_width: float) -> list[str]:
    """Greedy word wrap to ``max_width`` pixels; explicit line breaks are kept, and a word
    wider than the line is broken between characters."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= max_width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for char in word:  # only a single over-wide word gets here
                if line and font.getlength(line + char) > max_width:
                    lines.append(line)
                    line = ""
                line += char
        if line:
            lines.append(line)
    return lines


@dataclass(frozen=True)
class Overlay:
    """An RGBA patch placed at ``(x, y)``, kept premultiplied for a cheap blend."""

    x: int
    y: int
    premultiplied: NDArray[np.uint16]  # rgb * alpha, (h, w, 3)
    inverse_alpha: NDArray[np.uint16]  # 255 - alpha, (h, w, 1)

    @property
    def height(self) -> int:
        return int(self.premultiplied.shape[0])

    @property
    def width(self) -> int:
        return int(self.premultiplied.shape[1])

    @classmethod
    def from_rgba(cls, x: int, y: int, rgba: NDArray[np.uint8]) -> Overlay:
        alpha = rgba[:, :, 3:4].astype(np.uint16)
        return cls(x, y, rgba[:, :, :3].astype(np.uint16) * alpha, 255 - alpha)

    def blend(self, frame: NDArray[np.uint8]) -> None:
        """Alpha-blend onto ``frame`` (RGB, in place), clipped to the frame."""
        height, width = frame.shape[:2]
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(width, self.x + self.width), min(height, self.y + self.height)
        if x0 >= x1 or y0 >= y1:
            return
        region = frame[y0:y1, x0:x1]
        sx, sy = x0 - self.x, y0 - self.y
        premultiplied = self.premultiplied[sy : sy + y1 - y0, sx : sx + x1 - x0]
        inverse = self.inverse_alpha[sy : sy + y1 - y0, sx : sx + x1 - x0]
        mixed = region.astype(np.uint16) * inverse + premultiplied + 127
        region[:] = (mixed // 255).astype(np.uint8)


def render_caption(text: str, frame_width: int, frame_height: int, style: CaptionStyle) -> Overlay:
    """Draw ``text`` wrapped to the frame, centred, on its background box, as an overlay placed
    per ``style.position``."""
    size = style.size_for(frame_height)
    font = load_font(size)
    padding = round(size * style.padding)
    stroke = style.outline_width
    lines = wrap_text(text, font, frame_width * style.max_width - 2 * padding - 2 * stroke)
    ascent, descent = font.getmetrics() if isinstance(font, ImageFont.FreeTypeFont) else (size, 0)
    line_height = ascent + descent + round(size * style.line_spacing)
    widths = [font.getlength(line) for line in lines]
    text_width = max(widths, default=0.0)
    box_width = min(frame_width, round(text_width) + 2 * (padding + stroke))
    box_height = min(
        frame_height,
        line_height * len(lines) - round(size * style.line_spacing) + 2 * (padding + stroke),
    )
    patch = Image.new("RGBA", (max(1, box_width), max(1, box_height)), style.background_color)
    # Text drawn on its own layer, then composited, so a translucent text colour over an opaque
    # box shows the box, not the pixels under it.
    layer = Image.new("RGBA", patch.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for index, (line, line_width) in enumerate(zip(lines, widths, strict=True)):
        draw.text(
            ((box_width - line_width) / 2, padding + stroke + index * line_height),
            line,
            font=font,
            fill=style.color,
            stroke_width=stroke,
            stroke_fill=style.outline_color,
        )
    patch = Image.alpha_composite(patch, layer)
    x = (frame_width - box_width) // 2
    margin = round(frame_height * style.margin)
    if style.position == "top":
        y = margin
    elif style.position == "center":
        y = (frame_height - box_height) // 2
    else:
        y = frame_height - margin - box_height
    return Overlay.from_rgba(x, max(0, y), np.asarray(patch, dtype=np.uint8))


class CaptionBurner:
    """Burns ``cues`` into frames shown at increasing times.

    Each distinct set of cues on screen is rendered once (overlapping cues are stacked in one
    box, in order of start); frames in between cost one blend. Times may go backwards (a seek),
    at the cost of a rescan.
    """

    def __init__(
        self, cues: Sequence[Cue], frame_width: int, frame_height: int, style: CaptionStyle
    ) -> None:
        self.cues = sorted(cues, key=lambda cue: (cue.start, cue.end))
        self.width, self.height, self.style = frame_width, frame_height, style
        self._next = 0  # the first cue not yet started
        self._active: list[int] = []
        self._last_t = float("-inf")
        self._shown: tuple[tuple[int, ...], Overlay | None] = ((), None)
        self.rendered = 0  # how many overlays were drawn (for tests and benchmarks)

    def active(self, t: float) -> list[Cue]:
        """The cues on screen at ``t`` (``start <= t < end``)."""
        return [self.cues[i] for i in self._advance(t)]

    def _advance(self, t: float) -> tuple[int, ...]:
        if t < self._last_t:
            self._next, self._active = 0, []
        self._last_t = t
        while self._next < len(self.cues) and self.cues[self._next].start <= t:
            self._active.append(self._next)
            self._next += 1
        self._active = [i for i in self._active if self.cues[i].end > t]
        return tuple(self._active)

    def overlay_at(self, t: float) -> Overlay | None:
        showing = self._advance(t)
        if showing != self._shown[0]:
            overlay = None
            if showing:
                text = "\n".join(self.cues[i].text for i in showing)
                overlay = render_caption(text, self.width, self.height, self.style)
                self.rendered += 1
            self._shown = (showing, overlay)
        return self._shown[1]

    def burn(self, frame: NDArray[np.uint8], t: float) -> NDArray[np.uint8]:
        """``frame`` with the captions on screen at ``t``: a copy when any are drawn (the same
        decoded frame may be shown at several times), else ``frame`` itself."""
        overlay = self.overlay_at(t)
        if overlay is None:
            return frame
        out = frame.copy()
        overlay.blend(out)
        return out
