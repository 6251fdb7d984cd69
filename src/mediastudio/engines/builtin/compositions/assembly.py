"""Pictures for compositions: stills prepared for a frame, stills animated into clips by an
image-to-video step, clips laid on a timeline with crossfades, and the final MP4 mux.

Frames are RGB ``uint8`` arrays; nothing holds more than a frame or two per clip in memory.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFilter

from mediastudio.engines.compose import Composition
from mediastudio.engines.contract import EngineError, InvalidInput, RunContext
from mediastudio.engines.media.audio import Samples
from mediastudio.engines.media.images import flatten, open_image
from mediastudio.engines.media.video import Frame, VideoWriter, even, iter_frames

STILL_LONG_SIDE = 1920
MAX_STEP_CLIP_S = 10  # the longest clip an image-to-video step is asked for
SAME_SHAPE_TOLERANCE = 0.08  # a still this close to the frame's shape is cropped, not padded
BACKDROP_BLUR = 0.04  # of the backdrop's long side
BACKDROP_DIM = 0.65
PRODUCT_SHARE = 0.86  # of the frame a padded still takes
DATA_URI_QUALITY = 90
CANCEL_EVERY_FRAMES = 8
# The aspects image-to-video steps accept (engines.inputs.VideoAspect).
STEP_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4")

FrameOverlay = Callable[[Frame, float], Frame]
Progress = Callable[[float], None]


def ratio(aspect: str) -> float:
    across, down = (int(part) for part in aspect.split(":"))
    return across / down


def frame_size(aspect: str, short_side: int) -> tuple[int, int]:
    """``("9:16", 720)`` → ``(720, 1280)``: even sizes, the short side as given."""
    value = ratio(aspect)
    long_side = even(round(short_side * max(value, 1 / value)))
    short_side = even(short_side)
    return (long_side, short_side) if value >= 1 else (short_side, long_side)


def nearest_step_aspect(aspect: str) -> str:
    """The aspect an image-to-video step accepts closest to ``aspect`` (4:5 → 3:4)."""
    wanted = math.log(ratio(aspect))
    return min(STEP_ASPECTS, key=lambda candidate: abs(math.log(ratio(candidate)) - wanted))


# --- stills ------------------------------------------------------------------------------------


def prepare_still(path: Path, aspect: str, *, long_side: int = STILL_LONG_SIDE) -> Image.Image:
    """A user's image made into a frame of ``aspect``: cropped when nearly that shape already,
    else shown whole (transparency on white) over a blurred, dimmed fill of itself."""
    image = flatten(open_image(path, mode="RGBA"), (255, 255, 255))
    width, height = _fit_within(aspect, long_side)
    wanted, actual = ratio(aspect), image.width / image.height
    if abs(math.log(actual / wanted)) <= SAME_SHAPE_TOLERANCE:
        return _cover(image, width, height)
    backdrop = _cover(image, width, height).filter(
        ImageFilter.GaussianBlur(BACKDROP_BLUR * max(width, height))
    )
    backdrop = Image.eval(backdrop, lambda value: int(value * BACKDROP_DIM))
    scale = PRODUCT_SHARE * min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    product = image.resize(size, Image.Resampling.LANCZOS)
    backdrop.paste(product, ((width - size[0]) // 2, (height - size[1]) // 2))
    return backdrop


def _fit_within(aspect: str, long_side: int) -> tuple[int, int]:
    value = ratio(aspect)
    if value >= 1:
        return long_side, max(2, round(long_side / value))
    return max(2, round(long_side * value)), long_side


def _cover(image: Image.Image, width: int, height: int) -> Image.Image:
    scale = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return resized.crop((left, top, left + width, top + height))


def draw_still(
    steps: Composition,
    step: str,
    model_id: str,
    payload: Mapping[str, object],
    aspect: str,
    *,
    what: str,
    long_side: int = STILL_LONG_SIDE,
) -> Image.Image:
    """A still drawn by an image model (step ``step`` running ``model_id`` on ``payload``),
    prepared for a frame of ``aspect`` as a user's image would be; ``what`` names it in the
    error when the model gives no image."""
    outputs = steps.run_model(step, model_id, payload)
    images = [output for output in outputs if output.content_type.startswith("image/")]
    if not images:
        raise EngineError(f"{model_id} gave no image for {what}.")
    return prepare_still(images[0].path, aspect, long_side=long_side)


def data_uri(image: Image.Image) -> str:
    """A JPEG ``data:`` URI of ``image``: how a prepared still is handed to a step."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=DATA_URI_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def still_to_clip(
    steps: Composition,
    step: str,
    model_id: str,
    still: Image.Image | str,
    *,
    seconds: float,
    aspect: str,
    fps: int,
    seed: int | None = None,
    hints: Mapping[str, object] | None = None,
) -> Path:
    """Animate ``still`` (an image, or a URL the step fetches) into a clip of at least
    ``seconds`` (whole seconds, at most :data:`MAX_STEP_CLIP_S`) by running ``model_id``.

    ``hints`` are options only some image-to-video models take (``resolution``, ``motion``…):
    each is passed only when the model's input has a field of that name."""
    payload: dict[str, object] = {
        "first_frame_image": data_uri(still) if isinstance(still, Image.Image) else still,
        "duration": max(1, min(MAX_STEP_CLIP_S, math.ceil(seconds - 1e-6))),
        "aspect_ratio": nearest_step_aspect(aspect),
        "fps": fps,
    }
    if seed is not None:
        payload["seed"] = seed
    registered = steps.registry.get(model_id)
    accepted = registered.spec.input_model.model_fields if registered is not None else {}
    payload.update({name: value for name, value in (hints or {}).items() if name in accepted})
    outputs = steps.run_model(step, model_id, payload)
    return outputs[0].path


def step_resolution(width: int, height: int, long_sides: Mapping[str, int]) -> str:
    """The smallest of a step's named resolutions (name → long side) at least as large as a
    ``width`` x ``height`` frame, else the largest."""
    ordered = sorted(long_sides.items(), key=lambda item: item[1])
    for name, long_side in ordered:
        if long_side >= max(width, height):
            return name
    return ordered[-1][0]


# --- the timeline ------------------------------------------------------------------------------


def resize_cover(frame: Frame, width: int, height: int) -> Frame:
    """Scale ``frame`` to fill ``width`` x ``height``, cropping the overflow evenly."""
    source_h, source_w = frame.shape[:2]
    if (source_w, source_h) == (width, height):
        return frame
    scale = max(width / source_w, height / source_h)
    crop_w, crop_h = min(source_w, round(width / scale)), min(source_h, round(height / scale))
    left, top = (source_w - crop_w) // 2, (source_h - crop_h) // 2
    cropped = frame[top : top + crop_h, left : left + crop_w]
    shrinking = crop_w > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(cropped, (width, height), interpolation=interpolation))


class ClipReader:
    """Frames of one clip at increasing times, fitted to the frame size; past its end, its last
    frame (a step may return a clip a few frames short)."""

    def __init__(self, path: Path, width: int, height: int) -> None:
        self.path, self.width, self.height = path, width, height
        self._frames = iter_frames(path)
        self._current: Frame | None = None
        self._next: tuple[float, Frame] | None = self._read()
        if self._next is None:
            raise EngineError(f"The clip {path.name} has no frames.")

    def _read(self) -> tuple[float, Frame] | None:
        try:
            return next(self._frames)
        except StopIteration:
            return None

    def at(self, seconds: float) -> Frame:
        while self._next is not None and (self._current is None or self._next[0] <= seconds):
            self._current = resize_cover(self._next[1], self.width, self.height)
            self._next = self._read()
        assert self._current is not None
        return self._current

    def close(self) -> None:
        self._frames.close()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Shot:
    """A clip shown from ``start_s`` to ``end_s`` of the timeline (overlapping its neighbours
    by the crossfade), starting at the clip's own beginning."""

    clip: Path
    start_s: float
    end_s: float


def plan_shots(
    duration_s: float, count: int, crossfade_s: float | Sequence[float]
) -> list[tuple[float, float]]:
    """``count`` equal shots covering ``duration_s``; each inner cut overlaps its two shots by
    ``crossfade_s`` (one value, or one per cut; 0 is a hard cut)."""
    fades = [crossfade_s] * (count - 1) if isinstance(crossfade_s, float | int) else crossfade_s
    if len(fades) != count - 1:
        raise ValueError(f"{count} shots have {count - 1} cuts, not {len(fades)}")
    length = duration_s / count
    spans = []
    for index in range(count):
        before = fades[index - 1] / 2 if index > 0 else 0.0
        after = fades[index] / 2 if index < count - 1 else 0.0
        start, end = index * length - before, (index + 1) * length + after
        spans.append((max(0.0, start), min(duration_s, end)))
    return spans


class Timeline:
    """Time → frame: the shot on screen, crossfaded where two overlap. Ask for increasing
    times; each clip is opened when it first shows and closed once it is past."""

    def __init__(self, shots: Sequence[Shot], width: int, height: int) -> None:
        if not shots:
            raise ValueError("a timeline needs at least one shot")
        self.shots, self.width, self.height = list(shots), width, height
        self._readers: dict[int, ClipReader] = {}

    def __call__(self, seconds: float) -> Frame:
        shots = self.shots
        visible = [i for i, shot in enumerate(shots) if shot.start_s <= seconds < shot.end_s]
        if not visible:
            visible = [len(shots) - 1 if seconds >= shots[-1].start_s else 0]
        for index in [i for i in self._readers if i < visible[0]]:
            self._readers.pop(index).close()
        pictures = [self._reader(index).at(seconds - shots[index].start_s) for index in visible[:2]]
        if len(pictures) == 1:
            return pictures[0]
        outgoing, incoming = shots[visible[0]], shots[visible[1]]
        overlap = max(1e-6, outgoing.end_s - incoming.start_s)
        weight = min(1.0, max(0.0, (seconds - incoming.start_s) / overlap))
        return np.asarray(cv2.addWeighted(pictures[0], 1 - weight, pictures[1], weight, 0.0))

    def _reader(self, index: int) -> ClipReader:
        if index not in self._readers:
            self._readers[index] = ClipReader(self.shots[index].clip, self.width, self.height)
        return self._readers[index]

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


# --- the final file ----------------------------------------------------------------------------


def render(
    ctx: RunContext,
    path: Path,
    *,
    width: int,
    height: int,
    fps: int,
    duration_s: float,
    picture: Callable[[float], Frame],
    audio: Samples,
    overlays: Sequence[FrameOverlay] = (),
    progress: Progress,
) -> float:
    """Write ``duration_s`` of ``picture`` (with ``overlays`` drawn over each frame, in order)
    and ``audio`` (float samples at 48 kHz) as one H.264 + AAC MP4; returns its duration."""
    count = max(1, round(duration_s * fps))
    with VideoWriter(path, width, height, fps=fps, audio=audio) as out:
        for index, seconds in enumerate(_frame_times(count, fps)):
            if index % CANCEL_EVERY_FRAMES == 0:
                ctx.check_cancelled()
                progress(index / count)
            frame = picture(seconds)
            for overlay in overlays:
                frame = overlay(frame, seconds)
            out.write(frame)
        return out.duration_s


def _frame_times(count: int, fps: int) -> Iterator[float]:
    return (index / fps for index in range(count))


def load_still(
    ctx: RunContext, reference: str, label: str, aspect: str, *, long_side: int = STILL_LONG_SIDE
) -> Image.Image:
    """Fetch a user's image reference and :func:`prepare_still` it; a failure names the input."""
    try:
        return prepare_still(ctx.fetcher.fetch(reference), aspect, long_side=long_side)
    except InvalidInput as exc:
        raise InvalidInput(f"{label}: {exc.message}") from exc
