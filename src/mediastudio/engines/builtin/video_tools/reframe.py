"""Reframing: which part of the picture a clip keeps when its aspect differs from the source's.

The crop is the largest box of the target aspect that fits the source. Its centre follows, in
order of preference: the largest detected face (when faces were found in at least
:data:`MIN_FACE_SHARE` of the clip's face samples), the centre of motion (when there was motion in
at least :data:`MIN_MOTION_SHARE` of its analysed frames), or else the middle of the frame. The
track is interpolated between samples, held at the ends, then smoothed with a Gaussian of
:data:`SMOOTHING_S` seconds so the virtual camera glides instead of jittering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from mediastudio.engines.builtin.video_tools.scenes import ANALYSIS_FPS, Floats, Sample
from mediastudio.engines.inputs import dimensions_from_aspect
from mediastudio.engines.media.video import Frame

MIN_FACE_SHARE = 0.25
MIN_MOTION_SHARE = 0.25
SMOOTHING_S = 0.6
MAX_OUTPUT_LONG_SIDE = 1920

Focus = Literal["face", "motion", "centre"]


def _ratio(aspect: str) -> float:
    across, down = (int(part) for part in aspect.split(":"))
    return across / down


def crop_size(width: int, height: int, aspect: str) -> tuple[int, int]:
    """The largest ``aspect`` box inside ``width x height`` (whole pixels)."""
    ratio = _ratio(aspect)
    if width / height > ratio:
        return max(2, min(width, round(height * ratio))), height
    return width, max(2, min(height, round(width / ratio)))


def output_size(width: int, height: int, aspect: str) -> tuple[int, int]:
    """The clip's frame size: the crop's own resolution (never upscaled), long side at most
    :data:`MAX_OUTPUT_LONG_SIDE`, both sides even."""
    crop_w, crop_h = crop_size(width, height, aspect)
    return dimensions_from_aspect(aspect, min(MAX_OUTPUT_LONG_SIDE, max(crop_w, crop_h)))


@dataclass(frozen=True)
class Track:
    focus: Focus
    times: Floats
    xs: Floats  # 0..1 across the source frame
    ys: Floats

    def at(self, t: float) -> tuple[float, float]:
        return float(np.interp(t, self.times, self.xs)), float(np.interp(t, self.times, self.ys))


def _smoothed(samples: list[Sample], start_s: float, end_s: float) -> tuple[Floats, Floats, Floats]:
    step = 1.0 / ANALYSIS_FPS
    grid = np.arange(start_s, end_s + step, step)
    times = np.array([s.t for s in samples])
    xs = np.interp(grid, times, [s.x for s in samples])
    ys = np.interp(grid, times, [s.y for s in samples])
    sigma = SMOOTHING_S * ANALYSIS_FPS
    return (
        grid,
        gaussian_filter1d(xs, sigma, mode="nearest"),
        gaussian_filter1d(ys, sigma, mode="nearest"),
    )


def plan_track(
    start_s: float,
    end_s: float,
    faces: list[Sample],
    face_sample_times: list[float],
    motion_centres: list[Sample],
    analysed_times: Floats,
) -> Track:
    """The path the crop's centre takes over ``[start_s, end_s)`` (see the module's docstring)."""
    sampled = sum(1 for t in face_sample_times if start_s <= t < end_s)
    in_clip = [s for s in faces if start_s <= s.t < end_s]
    if in_clip and len(in_clip) >= MIN_FACE_SHARE * max(1, sampled):
        return Track("face", *_smoothed(in_clip, start_s, end_s))
    analysed = int(np.count_nonzero((analysed_times >= start_s) & (analysed_times < end_s)))
    moving = [s for s in motion_centres if start_s <= s.t < end_s]
    if moving and len(moving) >= MIN_MOTION_SHARE * max(1, analysed):
        return Track("motion", *_smoothed(moving, start_s, end_s))
    grid = np.array([start_s, end_s])
    return Track("centre", grid, np.full(2, 0.5), np.full(2, 0.5))


def crop_frame(
    frame: Frame, centre: tuple[float, float], crop: tuple[int, int], out: tuple[int, int]
) -> Frame:
    """The ``crop`` box centred as near ``centre`` (relative) as the frame allows, resized to
    ``out``."""
    height, width = frame.shape[:2]
    crop_w, crop_h = min(crop[0], width), min(crop[1], height)
    left = round(min(max(centre[0] * width - crop_w / 2, 0), width - crop_w))
    top = round(min(max(centre[1] * height - crop_h / 2, 0), height - crop_h))
    part = frame[top : top + crop_h, left : left + crop_w]
    if (crop_w, crop_h) == out:
        return np.ascontiguousarray(part)
    shrinking = out[0] < crop_w
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(part, out, interpolation=interpolation), dtype=np.uint8)
