"""The sandbox engine: deterministic placeholder media of the requested type, format, size and
duration, for every model, under sandbox (``ms_test_``) keys.

It lets clients build and test their whole integration (polling, outputs, failures, partial
results, cancellation) for free, like a payment provider's test mode. Outputs say SANDBOX on
them. Under a live key it never runs: its own ``sandbox/*`` models are unavailable there.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from pydantic import BaseModel

import mediastudio.engines.sandbox.media as media
from mediastudio.engines.contract import Engine, ModelSpec, OutputFile, RunContext
from mediastudio.engines.inputs import (
    ImageInput,
    MusicInput,
    SpeechInput,
    VideoInput,
    dimensions_from_aspect,
    prompt_of,
)
from mediastudio.engines.sandbox import magic

CONTENT_TYPES = {
    "png": "image/png",
    "webp": "image/webp",
    "jpg": "image/jpeg",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "mp4": "video/mp4",
}
VIDEO_LONG_SIDE = 640
SPEECH_WORDS_PER_SECOND = 2.5
SLOW_STEP_S = 0.1


def _spec(type_: str, name: str, input_model: type[BaseModel], pool: str = "cpu") -> ModelSpec:
    return ModelSpec(
        id=f"sandbox/{type_}",
        name=name,
        type=type_,
        input_model=input_model,
        credits=1,
        description=f"Placeholder {type_} for integration tests; runs only under ms_test_ keys.",
        category="sandbox",
        pool=pool,
        timeout_s=900,
    )


class SandboxEngine(Engine):
    name = "sandbox"

    def models(self) -> Sequence[ModelSpec]:
        return [
            _spec("image", "Sandbox image", ImageInput),
            _spec("video", "Sandbox video", VideoInput),
            _spec("speech", "Sandbox speech", SpeechInput),
            _spec("music", "Sandbox music", MusicInput),
        ]

    def run(self, ctx: RunContext) -> None:
        text = prompt_of(ctx.input)
        tricks = magic.parse(text)
        _wait(ctx, tricks.slow_s)
        failure = tricks.failure()
        if failure is not None:
            raise failure
        if tricks.crash:
            raise RuntimeError("sandbox: [crash] requested")
        seed = _seed(ctx.input, text or ctx.generation_id)
        kind = ctx.model.kind
        if kind == "image":
            _images(ctx, seed, tricks.partial)
        elif kind == "video":
            _video(ctx, seed)
        elif kind == "audio":
            _audio(ctx, seed)
        else:
            path = ctx.output_path(".txt")
            path.write_text(f"SANDBOX placeholder for {ctx.model.id}\n")
            ctx.add_output(OutputFile(path, "text/plain"))
        ctx.progress(1.0)


def _wait(ctx: RunContext, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        ctx.check_cancelled()
        ctx.progress(0.5 * (1 - remaining / seconds))
        time.sleep(min(SLOW_STEP_S, remaining))


def _seed(validated: BaseModel, text: str) -> int:
    explicit = getattr(validated, "seed", None)
    if isinstance(explicit, int):
        return explicit
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _images(ctx: RunContext, seed: int, partial: bool) -> None:
    validated = ctx.input
    width, height = validated.dimensions() if isinstance(validated, ImageInput) else (1024, 1024)
    image_format = str(getattr(validated, "output_format", "png"))
    if image_format not in ("png", "webp", "jpg"):
        image_format = "png"
    count = int(getattr(validated, "num_outputs", 1) or 1)
    for index in range(count):
        ctx.check_cancelled()
        if partial and index > 0:
            ctx.output_failed("provider_error", f"Sandbox: output {index} failed on purpose.")
            continue
        path = ctx.output_path(f".{image_format}")
        media.write_image(
            path,
            width=width,
            height=height,
            image_format=image_format,
            seed=seed + index,
            label=f"{ctx.model.id} #{index + 1}",
        )
        ctx.add_output(OutputFile(path, CONTENT_TYPES[image_format], width=width, height=height))
        ctx.progress(0.5 + 0.5 * (index + 1) / count)


def _video(ctx: RunContext, seed: int) -> None:
    validated = ctx.input
    # An input may leave these unset (a provider model's generic input): the usual defaults.
    duration = float(getattr(validated, "duration", None) or 5)
    fps = int(getattr(validated, "fps", None) or 24)
    aspect = str(getattr(validated, "aspect_ratio", None) or "16:9")
    width, height = dimensions_from_aspect(aspect, VIDEO_LONG_SIDE)
    # One placeholder per requested output (a social-variants job asks for one per platform).
    count = int(getattr(validated, "num_outputs", 1) or 1)
    for index in range(count):
        path = ctx.output_path(".mp4")
        start = 0.5 + 0.5 * index / count
        media.write_video(
            path,
            duration_s=duration,
            width=width,
            height=height,
            fps=fps,
            seed=seed + index,
            label=ctx.model.id,
            progress=_share(ctx, start, 0.5 / count),
            check_cancelled=ctx.check_cancelled,
        )
        ctx.add_output(
            OutputFile(path, CONTENT_TYPES["mp4"], width=width, height=height, duration_s=duration)
        )


def _share(ctx: RunContext, start: float, width: float) -> media.Progress:
    """Progress of one part of the job, mapped into ``[start, start + width]``."""
    return lambda done: ctx.progress(start + width * done)


def _audio(ctx: RunContext, seed: int) -> None:
    validated = ctx.input
    audio_format = str(getattr(validated, "output_format", "mp3"))
    if audio_format not in ("mp3", "wav", "ogg"):
        audio_format = "mp3"
    duration = _audio_duration(validated)
    path = ctx.output_path(f".{audio_format}")
    media.write_audio(
        path,
        duration_s=duration,
        audio_format=audio_format,
        seed=seed,
        progress=lambda done: ctx.progress(0.5 + 0.5 * done),
        check_cancelled=ctx.check_cancelled,
    )
    ctx.add_output(OutputFile(path, CONTENT_TYPES[audio_format], duration_s=duration))


def _audio_duration(validated: BaseModel) -> float:
    """Music: the requested duration. Speech: about as long as reading the text aloud."""
    duration = getattr(validated, "duration", None)
    if isinstance(duration, int | float):
        return float(duration)
    text = str(getattr(validated, "text", "") or "")
    speed = float(getattr(validated, "speed", 1.0) or 1.0)
    words = max(1, len(text.split()))
    return round(min(600.0, max(1.0, words / SPEECH_WORDS_PER_SECOND / speed)), 2)
