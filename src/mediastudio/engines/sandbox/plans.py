"""Generic output plans: the placeholder shapes of the sandbox's own ``sandbox/*`` models, and of
any model whose engine declares no :attr:`~mediastudio.engines.contract.ModelSpec.plan` (a
third-party engine's), read from the standard input fields (size, format, count, duration).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from mediastudio.engines.contract import InputFetcher, OutputKind, PlannedOutput
from mediastudio.engines.inputs import ImageInput, dimensions_from_aspect
from mediastudio.engines.media.files import content_type

VIDEO_LONG_SIDE = 640
VIDEO_FPS = 24
VIDEO_SECONDS = 5.0
SPEECH_WORDS_PER_SECOND = 2.5
MAX_SPEECH_S = 600.0
IMAGE_FORMATS = ("png", "webp", "jpg")
AUDIO_FORMATS = ("mp3", "wav", "ogg")

Plan = list[PlannedOutput]


def _choice(value: object, allowed: tuple[str, ...], default: str) -> str:
    return value if isinstance(value, str) and value in allowed else default


def _count(validated: BaseModel) -> int:
    return max(1, int(getattr(validated, "num_outputs", 1) or 1))


def image_plan(validated: BaseModel, fetcher: InputFetcher) -> Plan:
    """``num_outputs`` images of the standard input's size and format (else 1024x1024 PNG)."""
    width, height = validated.dimensions() if isinstance(validated, ImageInput) else (1024, 1024)
    image_format = _choice(getattr(validated, "output_format", None), IMAGE_FORMATS, "png")
    planned = PlannedOutput(content_type(image_format), width=width, height=height)
    return [planned] * _count(validated)


def video_plan(validated: BaseModel, fetcher: InputFetcher) -> Plan:
    """MP4s with sound, 640 px on the long side in the requested aspect, fps and duration."""
    duration = float(getattr(validated, "duration", VIDEO_SECONDS) or VIDEO_SECONDS)
    fps = int(getattr(validated, "fps", VIDEO_FPS) or VIDEO_FPS)
    aspect = str(getattr(validated, "aspect_ratio", "16:9") or "16:9")
    width, height = dimensions_from_aspect(aspect, VIDEO_LONG_SIDE)
    planned = PlannedOutput(
        "video/mp4", width=width, height=height, duration_s=duration, fps=fps, has_audio=True
    )
    return [planned] * _count(validated)


def audio_plan(validated: BaseModel, fetcher: InputFetcher) -> Plan:
    audio_format = _choice(getattr(validated, "output_format", None), AUDIO_FORMATS, "mp3")
    return [PlannedOutput(content_type(audio_format), duration_s=audio_seconds(validated))]


def audio_seconds(validated: BaseModel) -> float:
    """Music: the requested duration. Speech: about as long as reading the text aloud."""
    duration = getattr(validated, "duration", None)
    if isinstance(duration, int | float):
        return float(duration)
    text = str(getattr(validated, "text", "") or "")
    speed = float(getattr(validated, "speed", 1.0) or 1.0)
    words = max(1, len(text.split()))
    return round(min(MAX_SPEECH_S, max(1.0, words / SPEECH_WORDS_PER_SECOND / speed)), 2)


def file_plan(validated: BaseModel, fetcher: InputFetcher) -> Plan:
    return [PlannedOutput("text/plain")]


GENERIC: dict[OutputKind, Callable[[BaseModel, InputFetcher], Plan]] = {
    "image": image_plan,
    "video": video_plan,
    "audio": audio_plan,
    "file": file_plan,
}
