"""The sandbox engine: deterministic placeholder media with the live shapes, for every model, under
sandbox (``ms_test_``) keys.

It lets clients build and test their whole integration (polling, outputs, failures, partial
results, cancellation) for free, like a payment provider's test mode. Each model's live engine
declares what its outputs will be for an input (:attr:`ModelSpec.plan`: count, type, size,
length, alpha, fields); the sandbox renders placeholders to exactly that plan, so code written
against the sandbox meets the same shapes in production. A plan may read the inputs' headers
(an image's size, a video's length), so a sandbox job fetches its inputs like a live one and
fails where the live one would on an unreadable input. Outputs say SANDBOX on them. Under a live
key it never runs: its own ``sandbox/*`` models are unavailable there.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel

import mediastudio.engines.sandbox.media as media
from mediastudio.engines.contract import (
    Engine,
    ModelSpec,
    OutputFile,
    OutputPlanner,
    Planned,
    PlannedFailure,
    PlannedOutput,
    RunContext,
)
from mediastudio.engines.inputs import (
    ImageInput,
    MusicInput,
    SpeechInput,
    VideoInput,
    prompt_of,
)
from mediastudio.engines.media import transcripts
from mediastudio.engines.media.audio import AudioFormat
from mediastudio.engines.media.files import CONTENT_TYPES
from mediastudio.engines.sandbox import magic, plans

SLOW_STEP_S = 0.1
PLANNED_SHARE = 0.5  # of the progress bar, once the plan is made; rendering takes the rest
# Content type → file extension (the first one named for it).
EXTENSIONS: dict[str, str] = {}
for _extension, _type in CONTENT_TYPES.items():
    EXTENSIONS.setdefault(_type, _extension)
AUDIO_FORMATS: dict[str, AudioFormat] = {
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/aac": "aac",
}
DEFAULT_AUDIO_RATE = 24_000  # an audio file's when its plan names none (OpenAI's speech rate)
IMAGE_FORMATS = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}


def _spec(
    type_: str, name: str, input_model: type[BaseModel], plan: OutputPlanner, pool: str = "cpu"
) -> ModelSpec:
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
        plan=plan,
    )


class SandboxEngine(Engine):
    name = "sandbox"

    def models(self) -> Sequence[ModelSpec]:
        return [
            _spec("image", "Sandbox image", ImageInput, plans.image_plan),
            _spec("video", "Sandbox video", VideoInput, plans.video_plan),
            _spec("speech", "Sandbox speech", SpeechInput, plans.audio_plan),
            _spec("music", "Sandbox music", MusicInput, plans.audio_plan),
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
        planner = ctx.model.plan or plans.GENERIC[ctx.model.kind]
        planned = planner(ctx.input, ctx.fetcher)
        ctx.check_cancelled()
        ctx.progress(PLANNED_SHARE)
        _render_all(ctx, planned, _seed(ctx.input, text), partial=tricks.partial)
        ctx.progress(1.0)


def _wait(ctx: RunContext, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        ctx.check_cancelled()
        ctx.progress(PLANNED_SHARE * (1 - remaining / seconds))
        time.sleep(min(SLOW_STEP_S, remaining))


def _seed(validated: BaseModel, text: str | None) -> int:
    """The input's own ``seed``, else one drawn from its text (or, for a tool, its whole input),
    so the same input gives the same bytes."""
    explicit = getattr(validated, "seed", None)
    if isinstance(explicit, int):
        return explicit
    basis = text if text else validated.model_dump_json()
    return int.from_bytes(hashlib.sha256(basis.encode()).digest()[:4], "big")


def _render_all(ctx: RunContext, planned: Sequence[Planned], seed: int, *, partial: bool) -> None:
    """One placeholder per planned output, in order; planned failures and ``[partial]`` (every
    output after the first) are reported as failed units, as the live engine would."""
    count = max(1, len(planned))
    for index, item in enumerate(planned):
        ctx.check_cancelled()
        if isinstance(item, PlannedFailure):
            ctx.output_failed(item.code, item.message, **item.extra)
        elif partial and index > 0:
            ctx.output_failed("provider_error", f"Sandbox: output {index} failed on purpose.")
        else:
            start = PLANNED_SHARE + (1 - PLANNED_SHARE) * index / count
            share = _share(ctx, start, (1 - PLANNED_SHARE) / count)
            label = f"{ctx.model.id} #{index + 1}"
            ctx.add_output(_render(ctx, item, seed + index, label, share))


def _share(ctx: RunContext, start: float, width: float) -> media.Progress:
    """Progress of one part of the job, mapped into ``[start, start + width]``."""
    return lambda done: ctx.progress(start + width * done)


def _render(
    ctx: RunContext, planned: PlannedOutput, seed: int, label: str, progress: media.Progress
) -> OutputFile:
    kind = planned.content_type.split("/")[0]
    if planned.content_type in IMAGE_FORMATS:
        path = _image(ctx, planned, seed, label)
    elif planned.content_type == "video/mp4":
        path = _video(ctx, planned, seed, label, progress)
    elif planned.content_type in AUDIO_FORMATS:
        path = _audio(ctx, planned, seed, progress)
    elif planned.content_type == "audio/midi":
        path = ctx.output_path(".mid")
        media.write_midi(path, duration_s=_seconds(planned), seed=seed)
    elif planned.content_type in transcripts.CONTENT_FORMATS:
        path = _transcript(ctx, planned)
    elif kind == "image":  # a format the placeholders do not write: PNG, said so
        return _render(ctx, _as(planned, "image/png"), seed, label, progress)
    else:
        path = ctx.output_path(f".{EXTENSIONS.get(planned.content_type, 'txt')}")
        path.write_text(f"SANDBOX placeholder for {ctx.model.id}\n")
    return OutputFile(
        path,
        planned.content_type,
        width=planned.width,
        height=planned.height,
        duration_s=planned.duration_s,
        extra=dict(planned.extra),
    )


def _transcript(ctx: RunContext, planned: PlannedOutput) -> Path:
    """A placeholder transcript of the planned length, in the planned format (JSON, SRT or
    WebVTT): the same file shapes a live transcription writes."""
    fmt = transcripts.CONTENT_FORMATS[planned.content_type]
    language = planned.extra.get("language")
    words = bool(getattr(ctx.input, "wants_words", False))
    found = transcripts.placeholder(_seconds(planned), language if language else None, words=words)
    path = ctx.output_path(f".{fmt}")
    path.write_text(transcripts.render(found, fmt), encoding="utf-8")
    return path


def _as(planned: PlannedOutput, content_type: str) -> PlannedOutput:
    return PlannedOutput(
        content_type,
        planned.width,
        planned.height,
        has_alpha=planned.has_alpha,
        extra=planned.extra,
    )


def _seconds(planned: PlannedOutput) -> float:
    return planned.duration_s if planned.duration_s and planned.duration_s > 0 else 1.0


def _image(ctx: RunContext, planned: PlannedOutput, seed: int, label: str) -> Path:
    image_format = IMAGE_FORMATS[planned.content_type]
    path = ctx.output_path(f".{image_format}")
    media.write_image(
        path,
        width=planned.width or 1024,
        height=planned.height or 1024,
        image_format=image_format,
        seed=seed,
        label=label,
        alpha=planned.has_alpha and image_format != "jpg",
    )
    return path


def _video(
    ctx: RunContext, planned: PlannedOutput, seed: int, label: str, progress: media.Progress
) -> Path:
    path = ctx.output_path(".mp4")
    media.write_video(
        path,
        duration_s=_seconds(planned),
        width=planned.width or plans.VIDEO_LONG_SIDE,
        height=planned.height or plans.VIDEO_LONG_SIDE,
        fps=planned.fps if isinstance(planned.fps, int | Fraction) else plans.VIDEO_FPS,
        seed=seed,
        label=label,
        progress=progress,
        check_cancelled=ctx.check_cancelled,
        with_audio=planned.has_audio,
        audio_channels=planned.channels or 1,
    )
    return path


def _audio(ctx: RunContext, planned: PlannedOutput, seed: int, progress: media.Progress) -> Path:
    audio_format = AUDIO_FORMATS[planned.content_type]
    path = ctx.output_path(f".{audio_format}")
    media.write_audio(
        path,
        duration_s=_seconds(planned),
        audio_format=audio_format,
        seed=seed,
        progress=progress,
        check_cancelled=ctx.check_cancelled,
        sample_rate=planned.sample_rate or DEFAULT_AUDIO_RATE,
        channels=planned.channels or 1,
    )
    return path
