"""Image to video: a still animated with an eased pan and zoom (the "Ken Burns" effect).

A virtual camera window of the output's aspect moves over the image from a start to an end
position and zoom, eased in and out; each frame is one ``cv2.warpAffine`` of the (pre-shrunk)
image with a subpixel offset, so slow motion stays smooth. With ``motion: auto`` the camera zooms
in towards the image's most salient region (spectral-residual saliency), or, when a ``seed`` is
given, takes the motion the seed picks, still centred on that region.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from mediastudio.engines.builtin.video_tools.frames import BATCH
from mediastudio.engines.contract import (
    InputFetcher,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
)
from mediastudio.engines.inputs import VideoInput, dimensions_from_aspect
from mediastudio.engines.media.images import open_image, read_header
from mediastudio.engines.media.video import Frame, VideoWriter

Motion = Literal["zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down"]
MotionChoice = Literal["auto", "zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down"]
MOTIONS: tuple[Motion, ...] = ("zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down")
RESOLUTIONS = {"360p": 640, "480p": 854, "720p": 1280}
ZOOM = 1.3  # how far zoom-in / zoom-out go
PAN_ZOOM = 1.15  # pans run at this zoom, so even an image of the output's shape has room


class ImageToVideoInput(VideoInput):
    first_frame_image: str = Field(
        min_length=1,
        max_length=8_000_000,
        description="The still to animate: an https URL, a data: URI or an uploaded file's URL",
    )
    motion: MotionChoice = Field(
        "auto",
        description="Camera move; auto zooms towards the most salient region, or picks a move "
        "from the seed when one is given",
    )
    resolution: Literal["360p", "480p", "720p"] = Field(
        "720p", description="Output size: the long side is 640, 854 or 1280 pixels"
    )
    silent_audio: bool = Field(
        True, description="Add a silent AAC track (some players and platforms expect audio)"
    )


def output_size(validated: ImageToVideoInput) -> tuple[int, int]:
    return dimensions_from_aspect(validated.aspect_ratio, RESOLUTIONS[validated.resolution])


def frame_count(duration_s: float, fps: int) -> int:
    return max(1, round(duration_s * fps))


def plan_outputs(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One MP4 of the requested aspect, resolution, fps and length; the camera move is known
    from the input, its focus only by looking at the image (a placeholder: the centre)."""
    assert isinstance(validated, ImageToVideoInput)
    read_header(fetcher.fetch(validated.first_frame_image))  # refused as open_image would
    width, height = output_size(validated)
    fps = validated.fps
    return [
        PlannedOutput(
            "video/mp4",
            width=width,
            height=height,
            duration_s=frame_count(validated.duration, fps) / fps,
            fps=fps,
            has_audio=validated.silent_audio,
            extra={"motion": choose_motion(validated.motion, validated.seed), "focus": [0.5, 0.5]},
        )
    ]


SPEC = ModelSpec(
    id="builtin/image-to-video",
    name="Image to video (pan and zoom)",
    type="video",
    input_model=ImageToVideoInput,
    credits=2,
    price_unit="second",
    description="Animates a still image with an eased pan and zoom. Needs first_frame_image; "
    "the prompt is not used.",
    category="video",
    timeout_s=600,
    output_kind="video",
    plan=plan_outputs,
)


@dataclass(frozen=True)
class Camera:
    """Where the window looks: its centre in image pixels and its zoom (1 = the largest window of
    the output's aspect that fits in the image)."""

    x: float
    y: float
    zoom: float


def ease(t: float) -> float:
    """Sine ease-in-out: 0 → 1 with zero speed at both ends."""
    return 0.5 - 0.5 * math.cos(math.pi * min(1.0, max(0.0, t)))


def salient_point(image: NDArray[np.uint8]) -> tuple[float, float]:
    """The centre of the most salient region, as fractions of width and height.

    Spectral residual saliency (Hou & Zhang, 2007) on a 64x64 grey thumbnail: what stands out of
    the image's average spectrum. The centroid of the top 5 % salient pixels, pulled a third of
    the way towards the centre so a flat image gives the centre."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-6).astype(np.float32)
    residual = log_amplitude - cv2.blur(log_amplitude, (3, 3))
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), 3)
    threshold = np.quantile(saliency, 0.95)
    ys, xs = np.nonzero(saliency >= threshold)
    weights = saliency[ys, xs]
    if weights.sum() <= 0:
        return 0.5, 0.5
    fx = float(np.average(xs + 0.5, weights=weights)) / 64
    fy = float(np.average(ys + 0.5, weights=weights)) / 64
    return 0.5 + (fx - 0.5) * 2 / 3, 0.5 + (fy - 0.5) * 2 / 3


def choose_motion(requested: str, seed: int | None) -> Motion:
    if requested != "auto":
        return requested  # type: ignore[return-value]
    if seed is None:
        return "zoom-in"
    return random.Random(seed).choice(MOTIONS)  # noqa: S311 (a look, not a secret)


def plan(
    width: int,
    height: int,
    aspect: float,
    motion: Motion,
    focus: tuple[float, float],
    zoom: float,
) -> tuple[Camera, Camera]:
    """Start and end cameras over a ``width x height`` image for an output of ``aspect``: zooms
    between the whole image and ``zoom`` at ``focus`` (fractions of the size), pans edge to
    edge at ``zoom`` through ``focus``."""
    fx, fy = focus[0] * width, focus[1] * height
    centre = Camera(width / 2, height / 2, 1.0)
    if motion in ("zoom-in", "zoom-out"):
        close = Camera(fx, fy, zoom)
        start, end = (centre, close) if motion == "zoom-in" else (close, centre)
        return clamp(start, width, height, aspect), clamp(end, width, height, aspect)
    # Pans run from one edge to the other (clamping puts the window against each edge).
    if motion in ("pan-left", "pan-right"):
        left, right = Camera(0, fy, zoom), Camera(width, fy, zoom)
        start, end = (left, right) if motion == "pan-right" else (right, left)
    else:
        top, bottom = Camera(fx, 0, zoom), Camera(fx, height, zoom)
        start, end = (bottom, top) if motion == "pan-up" else (top, bottom)
    return clamp(start, width, height, aspect), clamp(end, width, height, aspect)


def window(width: int, height: int, aspect: float, zoom: float) -> tuple[float, float]:
    """The window's size at ``zoom``."""
    if width / height > aspect:
        base_w, base_h = height * aspect, float(height)
    else:
        base_w, base_h = float(width), width / aspect
    return base_w / zoom, base_h / zoom


def clamp(camera: Camera, width: int, height: int, aspect: float) -> Camera:
    """The camera moved (not zoomed) so its window stays inside the image."""
    win_w, win_h = window(width, height, aspect, camera.zoom)
    x = min(max(camera.x, win_w / 2), width - win_w / 2)
    y = min(max(camera.y, win_h / 2), height - win_h / 2)
    return Camera(x, y, camera.zoom)


def shrink_for(image: NDArray[np.uint8], out_w: int, out_h: int, zoom: float) -> NDArray[np.uint8]:
    """Shrink (area-averaged, once) so the closest view is about 1:1 with the output: each frame
    then samples at most ``zoom``x down, where bilinear interpolation is still clean."""
    height, width = image.shape[:2]
    win_w, _ = window(width, height, out_w / out_h, 1.0)
    scale = out_w * max(1.0, zoom) / win_w
    if scale >= 1.0:
        return image
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def ken_burns(
    image: NDArray[np.uint8],
    out_w: int,
    out_h: int,
    cameras: tuple[Camera, Camera],
    count: int,
) -> Iterator[Frame]:
    """``count`` frames of the window moving from ``cameras[0]`` to ``cameras[1]``, eased. The
    cameras are in ``image``'s pixels; the zoom is interpolated geometrically (constant speed to
    the eye)."""
    height, width = image.shape[:2]
    aspect = out_w / out_h
    start, end = cameras
    for index in range(count):
        t = ease(index / (count - 1)) if count > 1 else 0.0
        zoom = start.zoom * (end.zoom / start.zoom) ** t
        camera = clamp(
            Camera(start.x + (end.x - start.x) * t, start.y + (end.y - start.y) * t, zoom),
            width,
            height,
            aspect,
        )
        win_w, _ = window(width, height, aspect, zoom)
        scale = out_w / win_w
        x0, y0 = camera.x - win_w / 2, camera.y - (out_h / scale) / 2
        # dst = scale * (src - origin + 0.5) - 0.5: pixel centres, not corners, line up.
        matrix = np.array(
            [[scale, 0, scale * (0.5 - x0) - 0.5], [0, scale, scale * (0.5 - y0) - 0.5]],
            dtype=np.float64,
        )
        yield np.asarray(
            cv2.warpAffine(
                image,
                matrix,
                (out_w, out_h),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            ),
            dtype=np.uint8,
        )


def animate(
    ctx: RunContext,
    image: NDArray[np.uint8],
    out_w: int,
    out_h: int,
    *,
    fps: int,
    duration_s: float,
    cameras: tuple[Camera, Camera],
    silent_audio: bool,
    progress_span: tuple[float, float] = (0.0, 1.0),
) -> OutputFile:
    """Render the move into an MP4 in the work directory (progress and cancellation per batch)."""
    count = frame_count(duration_s, fps)
    path = ctx.output_path(".mp4")
    audio = np.zeros(0, dtype=np.float32) if silent_audio else None
    first, last = progress_span
    with VideoWriter(path, out_w, out_h, fps=fps, audio=audio) as writer:
        for index, frame in enumerate(ken_burns(image, out_w, out_h, cameras, count)):
            if index % BATCH == 0:
                ctx.check_cancelled()
                ctx.progress(first + (last - first) * index / count)
            writer.write(frame)
    return OutputFile(path, "video/mp4", width=out_w, height=out_h, duration_s=count / fps)


def run(ctx: RunContext) -> None:
    validated = ctx.input
    assert isinstance(validated, ImageToVideoInput)
    source = ctx.fetcher.fetch(validated.first_frame_image)
    ctx.check_cancelled()
    picture = np.asarray(open_image(source, mode="RGB"), dtype=np.uint8)
    out_w, out_h = output_size(validated)
    motion = choose_motion(validated.motion, validated.seed)
    focus = salient_point(picture)
    zoom = ZOOM if motion.startswith("zoom") else PAN_ZOOM
    image = shrink_for(picture, out_w, out_h, zoom)
    height, width = image.shape[:2]
    cameras = plan(width, height, out_w / out_h, motion, focus, zoom)
    ctx.progress(0.05)
    output = animate(
        ctx,
        image,
        out_w,
        out_h,
        fps=validated.fps,
        duration_s=validated.duration,
        cameras=cameras,
        silent_audio=validated.silent_audio,
        progress_span=(0.05, 1.0),
    )
    output.extra = {"motion": motion, "focus": [round(focus[0], 3), round(focus[1], 3)]}
    ctx.add_output(output)
    ctx.progress(1.0)
