"""One pass over a video's frames at a low rate and size: shot changes, motion, faces.

Every decoded frame is read (PyAV has no cheaper way to reach a given time), but only those
:data:`ANALYSIS_FPS` times a second are analysed, shrunk to :data:`ANALYSIS_WIDTH` pixels wide:

- **shot changes**: an HSV colour histogram (16 hue x 4 saturation x 4 value bins) per frame; the
  distance to the previous frame is half the L1 difference (0 = same colours, 1 = disjoint).
  :func:`detect_cuts` marks a cut where that distance stands out from its neighbourhood.
- **motion**: the mean absolute difference of consecutive grey frames (0..1), and the centre of
  the pixels that changed by more than :data:`MOTION_PIXEL_DELTA` (the centre of motion).
- **faces**: OpenCV's bundled frontal-face Haar cascade, :data:`FACE_FPS` times a second on a frame
  at most :data:`FACE_WIDTH` wide; the largest face of each sampled frame is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from mediastudio.engines.media.video import Frame, iter_frames

ANALYSIS_FPS = 6.0
ANALYSIS_WIDTH = 160
FACE_FPS = 2.0
FACE_WIDTH = 480
MOTION_PIXEL_DELTA = 24  # grey levels: below this a pixel "did not move" (noise, compression)
HIST_BINS = (16, 4, 4)

# Cut detection: a frame's histogram distance must exceed both the floor and the local median
# plus CUT_K robust standard deviations of the frames around it (CUT_WINDOW_S either side).
CUT_FLOOR = 0.3
CUT_K = 6.0
CUT_WINDOW_S = 2.0
MIN_SHOT_S = 0.5

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Sample:
    """A point of interest at time ``t``: ``x``/``y`` are 0..1 across the frame."""

    t: float
    x: float
    y: float
    size: float = 0.0  # faces: height as a share of the frame's height


@dataclass
class FrameAnalysis:
    times: Floats  # analysed frame times, seconds
    hist_distance: Floats  # to the previous analysed frame (0 for the first)
    motion: Floats  # mean absolute grey difference to the previous analysed frame, 0..1
    motion_centres: list[Sample] = field(default_factory=list)
    faces: list[Sample] = field(default_factory=list)
    face_sample_times: list[float] = field(default_factory=list)
    width: int = 0
    height: int = 0

    @property
    def end_s(self) -> float:
        return float(self.times[-1]) + 1.0 / ANALYSIS_FPS if len(self.times) else 0.0


def _histogram(small: Frame) -> NDArray[np.float32]:
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HIST_BINS), [0, 180, 0, 256, 0, 256])
    flat = hist.ravel().astype(np.float32)
    return flat / max(1.0, float(flat.sum()))


class _FaceFinder:
    def __init__(self) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV's face cascade is missing: {path}")

    def largest(self, frame: Frame) -> tuple[float, float, float] | None:
        """``(x, y, size)`` of the largest face, relative to the frame, or None."""
        height, width = frame.shape[:2]
        scale = min(1.0, FACE_WIDTH / width)
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            grey = cv2.resize(
                grey, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
        side = max(20, grey.shape[1] // 24)
        found = self.cascade.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(side, side)
        )
        if len(found) == 0:
            return None
        x, y, w, h = max((tuple(int(v) for v in box) for box in found), key=lambda b: b[2] * b[3])
        rows, cols = grey.shape
        return (x + w / 2) / cols, (y + h / 2) / rows, h / rows


def analyse_frames(
    path: Path,
    *,
    duration_s: float,
    check: Callable[[], None],
    progress: Callable[[float], None],
    max_seconds: float,
) -> FrameAnalysis:
    """Decode ``path`` once and measure it (see the module's docstring). ``check`` is called per
    analysed frame (cancellation), ``progress`` with the share of the video read so far."""
    faces = _FaceFinder()
    times: list[float] = []
    distances: list[float] = []
    motion: list[float] = []
    result = FrameAnalysis(np.zeros(0), np.zeros(0), np.zeros(0))
    previous_hist: NDArray[np.float32] | None = None
    previous_grey: NDArray[np.int16] | None = None
    next_analysis, next_face = 0.0, 0.0
    for t, frame in iter_frames(path, max_seconds=max_seconds):
        if t + 1e-6 < next_analysis:
            continue
        check()
        next_analysis = max(next_analysis + 1.0 / ANALYSIS_FPS, t)
        height, width = frame.shape[:2]
        result.width, result.height = width, height
        small_height = max(2, round(ANALYSIS_WIDTH * height / width))
        small = np.asarray(
            cv2.resize(frame, (ANALYSIS_WIDTH, small_height), interpolation=cv2.INTER_AREA),
            dtype=np.uint8,
        )
        hist = _histogram(small)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.int16)
        times.append(t)
        if previous_hist is None or previous_grey is None:
            distances.append(0.0)
            motion.append(0.0)
        else:
            distances.append(0.5 * float(np.abs(hist - previous_hist).sum()))
            delta = np.abs(grey - previous_grey)
            motion.append(float(delta.mean()) / 255.0)
            moved = delta > MOTION_PIXEL_DELTA
            if moved.sum() >= max(4, moved.size // 2000):
                rows, cols = np.nonzero(moved)
                weights = delta[rows, cols].astype(np.float64)
                result.motion_centres.append(
                    Sample(
                        t,
                        float(np.average(cols, weights=weights) + 0.5) / moved.shape[1],
                        float(np.average(rows, weights=weights) + 0.5) / moved.shape[0],
                    )
                )
        previous_hist, previous_grey = hist, grey
        if t + 1e-6 >= next_face:
            next_face = max(next_face + 1.0 / FACE_FPS, t)
            result.face_sample_times.append(t)
            found = faces.largest(frame)
            if found is not None:
                result.faces.append(Sample(t, *found))
        if duration_s > 0:
            progress(min(1.0, t / duration_s))
    result.times = np.asarray(times, dtype=np.float64)
    result.hist_distance = np.asarray(distances, dtype=np.float64)
    result.motion = np.asarray(motion, dtype=np.float64)
    return result


def detect_cuts(times: Floats, distances: Floats) -> list[float]:
    """Times of hard cuts: frame ``i`` starts a new shot when its histogram distance exceeds
    :data:`CUT_FLOOR` and ``median + CUT_K * 1.4826 * MAD`` of the distances within
    :data:`CUT_WINDOW_S` either side (the frame itself left out), and the previous cut is at
    least :data:`MIN_SHOT_S` earlier. The adaptive part keeps busy, flickering footage from
    cutting everywhere; the floor keeps a static shot's tiny noise from counting."""
    cuts: list[float] = []
    span = max(2, round(CUT_WINDOW_S * ANALYSIS_FPS))
    for i in range(1, len(times)):
        d = float(distances[i])
        if d <= CUT_FLOOR:
            continue
        around = np.concatenate([distances[max(1, i - span) : i], distances[i + 1 : i + 1 + span]])
        if len(around):
            median = float(np.median(around))
            spread = 1.4826 * float(np.median(np.abs(around - median)))
            if d <= median + CUT_K * max(spread, 0.02):
                continue
        t = float(times[i])
        if cuts and t - cuts[-1] < MIN_SHOT_S:
            continue
        cuts.append(t)
    return cuts
