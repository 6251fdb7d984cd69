"""Frame plumbing the video tools share: a source video's frames on a constant-rate grid, output
rates and sizes, and reframing a picture to another aspect (crop or blurred background)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from mediastudio.engines.media.video import Frame, even, iter_frames

Reframe = Literal["auto", "crop", "blur"]
# "auto" crops when the crop keeps at least this share of the picture, else letterboxes.
CROP_KEEPS_AT_LEAST = 0.75
BATCH = 8  # frames between progress reports and cancellation checks


def output_rate(source_fps: float, cap: int) -> int | Fraction:
    """The output frame rate for a source: its NTSC-style ``N*1000/1001`` rate when it is one
    (29.97, 23.976), else the nearest whole rate; never above ``cap``."""
    if source_fps <= 0 or not math.isfinite(source_fps):
        return min(25, cap)
    if source_fps >= cap:
        return cap
    nearest = max(1, round(source_fps))
    ntsc = Fraction(nearest * 1000, 1001)
    if abs(float(ntsc) - source_fps) < 2e-3:
        return ntsc
    return nearest


def fit_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """``width x height`` scaled down (never up) to at most ``max_pixels``, both sides even."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    return even(math.floor(width * scale)), even(math.floor(height * scale))


def frames_on_grid(
    path: Path,
    fps: int | Fraction,
    *,
    end_s: float | None = None,
    max_seconds: float,
) -> Iterator[tuple[int, float, Frame]]:
    """``(index, time, frame)`` at ``time = index / fps`` from the start of the video, each the
    latest source frame shown at that time: a variable or different source rate becomes a
    constant ``fps`` (frames repeated or dropped), and the video's own start offset is removed."""
    step = 1 / float(fps)
    index = 0
    first: float | None = None
    previous: Frame | None = None
    previous_t = 0.0
    source_step = step
    for seconds, frame in iter_frames(path, max_seconds=max_seconds):
        if first is None:
            first = seconds
        t = seconds - first
        if previous is not None:
            source_step = max(1e-3, t - previous_t)
            while index * step < t - 1e-6:
                if end_s is not None and index * step >= end_s - 1e-6:
                    return
                yield index, index * step, previous
                index += 1
        previous, previous_t = frame, t
    if previous is None:
        return
    last = previous_t + source_step  # the last frame is shown for one source frame period
    while index * step < last - 1e-6 and (end_s is None or index * step < end_s - 1e-6):
        yield index, index * step, previous
        index += 1


def grid_frames(seconds: float, fps: int | Fraction) -> int:
    """How many frames :func:`frames_on_grid` gives for ``seconds`` of picture (at least one):
    what an output plan expects without decoding."""
    return max(1, math.ceil(seconds * float(fps) - 1e-6))


def resize(frame: Frame, width: int, height: int) -> Frame:
    """Resize with area averaging when shrinking and bilinear when enlarging."""
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    shrinking = width * height < frame.shape[0] * frame.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(frame, (width, height), interpolation=interpolation), np.uint8)


def cover_box(width: int, height: int, aspect: float) -> tuple[int, int, int, int]:
    """The largest centred ``(x, y, w, h)`` of ``aspect`` (w/h) inside ``width x height``."""
    if width / height > aspect:
        w = max(1, round(height * aspect))
        return (width - w) // 2, 0, w, height
    h = max(1, round(width / aspect))
    return 0, (height - h) // 2, width, h


def crop_keeps(width: int, height: int, target_w: int, target_h: int) -> float:
    """Share of the source's area a centre crop to the target's aspect keeps."""
    _, _, w, h = cover_box(width, height, target_w / target_h)
    return (w * h) / (width * height)


def choose_reframe(
    reframe: Reframe, width: int, height: int, target_w: int, target_h: int
) -> Literal["crop", "blur"]:
    if reframe != "auto":
        return reframe
    keeps = crop_keeps(width, height, target_w, target_h)
    return "crop" if keeps >= CROP_KEEPS_AT_LEAST else "blur"


def reframer(
    mode: Literal["crop", "blur"], width: int, height: int, target_w: int, target_h: int
) -> Callable[[Frame], Frame]:
    """A function turning ``width x height`` frames into ``target_w x target_h`` ones: a centre
    crop to the target's aspect, or the whole picture fitted over a blurred, darkened copy of
    itself that fills the frame."""
    if mode == "crop":
        x, y, w, h = cover_box(width, height, target_w / target_h)
        return lambda frame: resize(frame[y : y + h, x : x + w], target_w, target_h)

    scale = min(target_w / width, target_h / height)
    fit_w, fit_h = min(target_w, round(width * scale)), min(target_h, round(height * scale))
    left, top = (target_w - fit_w) // 2, (target_h - fit_h) // 2
    # The background is made at 1/8 size: blurring there is cheap and looks the same.
    small_w, small_h = max(2, target_w // 8), max(2, target_h // 8)
    bx, by, bw, bh = cover_box(width, height, target_w / target_h)

    def letterbox(frame: Frame) -> Frame:
        small = resize(frame[by : by + bh, bx : bx + bw], small_w, small_h)
        blurred = cv2.GaussianBlur(small, (0, 0), sigmaX=max(1.0, small_w / 40))
        background = cv2.resize(blurred, (target_w, target_h), interpolation=cv2.INTER_LINEAR)
        out = np.asarray((background.astype(np.uint16) * 150) >> 8, dtype=np.uint8)
        out[top : top + fit_h, left : left + fit_w] = resize(frame, fit_w, fit_h)
        return out

    return letterbox
