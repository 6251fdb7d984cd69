"""The OpenAI-compatible surface's rules: an OpenAI request becomes a job of the generations
service (same validation, credits, quotas, scopes and sandbox as the native API), the request
waits for it server-side up to ``openai_compat_wait_s``, and its outputs are read back.

A job that outlives the bound is cancelled (refunded) and answered 504: OpenAI's clients
expect the output in the answer, and retry a 5xx as a new request, so a job left running
would be a charge the caller never sees.
"""

from __future__ import annotations

import asyncio
import base64
import math
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from mediastudio.engines.inputs import IMAGE_EDIT_TYPE
from mediastudio.generations.models import Generation, Status
from mediastudio.generations.service import NewGeneration
from mediastudio.keys.principal import Principal
from mediastudio.kit.errors import Conflict, InvalidRequest, MediaStudioError
from mediastudio.kit.events import EventsLost, Subscription
from mediastudio.openai_compat.errors import DEFAULT_JOB_ERROR, JOB_ERRORS, JobNotFinished
from mediastudio.openai_compat.schemas import ImageGenerationRequest, SpeechRequest
from mediastudio.platform import Platform

# The database is the truth: events only wake the wait early (another process may run the job
# and publish nowhere this process hears), so the row is read again at least this often.
RECHECK_S = 1.0
OPENAI_PREFIX = "openai/"
# OpenAI's stock voices: on a model that has none of them they mean "the default voice", so a
# client written for OpenAI (the client requires a voice) works on espeak unchanged.
OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}
)
# Our input fields as OpenAI's parameters, for the ``param`` of a refusal.
PARAMS = {
    "num_outputs": "n",
    "width": "size",
    "height": "size",
    "text": "input",
    "audio_url": "file",
    "image_url": "image",
    "aspect_ratio": "size",
    "output_formats": "response_format",
}


def model_id(platform: Platform, name: str | None) -> str | None:
    """A catalog id for a name a client sends: the id itself, or OpenAI's bare name
    (``gpt-image-2``, ``tts-1``, ``whisper-1``) for the ``openai/…`` model of that name."""
    if name is None or platform.catalog.registry.get(name) is not None:
        return name
    prefixed = OPENAI_PREFIX + name
    return prefixed if platform.catalog.registry.get(prefixed) is not None else name


def image_job(platform: Platform, body: ImageGenerationRequest) -> NewGeneration:
    data: dict[str, Any] = {
        "prompt": body.prompt,
        "num_outputs": body.n,
        "output_format": "jpg" if body.output_format == "jpeg" else body.output_format,
    }
    if body.size is not None and body.size != "auto":
        width, height = body.size.split("x")
        data["width"], data["height"] = int(width), int(height)
    options = {
        name: value
        for name, value in (
            ("quality", body.quality),
            ("style", body.style),
            ("background", body.background),
        )
        if value is not None
    }
    if options:
        data["options"] = options  # only models that take options accept them (else a 400)
    return NewGeneration(input=data, type="image", model=model_id(platform, body.model))


def speech_job(platform: Platform, body: SpeechRequest) -> NewGeneration:
    model = model_id(platform, body.model)
    if body.response_format == "pcm":
        raise refusal("response_format", "pcm (headerless samples) is not offered: use wav")
    data: dict[str, Any] = {
        "text": body.input,
        "output_format": "ogg" if body.response_format == "opus" else body.response_format,
    }
    if body.voice is not None and not _stock_voice_elsewhere(model, body.voice):
        data["voice"] = body.voice
    if body.speed is not None:
        data["speed"] = body.speed
    if body.instructions is not None:
        data["instructions"] = body.instructions
    return NewGeneration(input=data, type="speech", model=model)


def _stock_voice_elsewhere(model: str | None, voice: str) -> bool:
    return voice in OPENAI_VOICES and not (model or "").startswith(OPENAI_PREFIX)


def transcription_job(
    platform: Platform,
    *,
    file_id: str,
    model: str,
    response_format: str,
    language: str | None,
    prompt: str | None,
    temperature: float | None,
    timestamp_granularities: list[str] | None = None,
) -> NewGeneration:
    wanted = response_format if response_format in ("srt", "vtt") else "json"
    data: dict[str, Any] = {"audio_url": file_id, "output_formats": [wanted]}
    if timestamp_granularities:
        # The job's own input checks the values (and refuses word on a text-only model).
        data["timestamp_granularities"] = list(dict.fromkeys(timestamp_granularities))
    if language is not None:
        data["language"] = language
    if prompt is not None:
        data["prompt"] = prompt
    if temperature is not None:
        data["options"] = {"temperature": temperature}
    return NewGeneration(input=data, type="transcription", model=model_id(platform, model))


# The shapes /api/v1 image edits take, as width / height, for an OpenAI ``size``.
EDIT_ASPECTS = {"1:1": 1.0, "16:9": 16 / 9, "9:16": 9 / 16, "4:3": 4 / 3, "3:4": 3 / 4}
EDIT_ASPECTS |= {"3:2": 3 / 2, "2:3": 2 / 3}


def edit_model_id(platform: Platform, name: str | None) -> str | None:
    """A catalog id for the model of an edit: the id itself, or OpenAI's bare name for the
    ``openai/<name>-edit`` model (``gpt-image-1.5`` is ``openai/gpt-image-1.5-edit``)."""
    if name is not None and platform.catalog.registry.get(f"{OPENAI_PREFIX}{name}-edit"):
        return f"{OPENAI_PREFIX}{name}-edit"
    return model_id(platform, name)


def edit_job(
    platform: Platform,
    *,
    image_id: str,
    mask_id: str | None,
    model: str | None,
    prompt: str,
    n: int,
    size: str | None,
    output_format: str,
    quality: str | None,
    input_fidelity: str | None,
) -> NewGeneration:
    """``images.edit`` as an image-edit job: the image (and mask) are uploads; a size is the
    nearest of our aspect ratios (the model renders its own size for it); fields a model does
    not take are refused by its input (400), as on /api/v1."""
    data: dict[str, Any] = {
        "image_url": image_id,
        "prompt": prompt,
        "output_format": "jpg" if output_format == "jpeg" else output_format,
    }
    if size is not None and size != "auto":
        width, height = (int(side) for side in size.split("x"))
        if width == 0 or height == 0:
            raise refusal("size", "width and height must be positive")
        wanted = math.log(width / height)
        data["aspect_ratio"] = min(
            EDIT_ASPECTS, key=lambda name: abs(math.log(EDIT_ASPECTS[name]) - wanted)
        )
    optional = {
        "mask": mask_id,
        "num_outputs": n if n != 1 else None,
        "quality": quality,
        "input_fidelity": input_fidelity,
    }
    data.update({name: value for name, value in optional.items() if value is not None})
    return NewGeneration(input=data, type=IMAGE_EDIT_TYPE, model=edit_model_id(platform, model))


def refusal(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(
        f"The request has invalid fields: {param}",
        details={"fields": [{"field": param, "message": message}]},
    )


async def run(platform: Platform, principal: Principal, new: NewGeneration) -> Generation:
    """Create the job as the native API does and wait for its end; a job that did not
    succeed raises its error (it was refunded)."""
    try:
        created = await platform.generations.create(principal, new)
    except InvalidRequest as exc:
        raise _as_openai_params(exc) from exc
    assert created.generation is not None  # no idempotency key: never a replay
    generation = await wait_for_end(platform, principal, created.generation.id)
    return succeeded(generation)


def _as_openai_params(exc: InvalidRequest) -> InvalidRequest:
    fields = (exc.details or {}).get("fields")
    if isinstance(fields, list):
        for item in fields:
            if isinstance(item, dict) and isinstance(item.get("field"), str):
                head, dot, rest = item["field"].partition(".")
                item["field"] = PARAMS.get(head, head) + dot + rest
    return exc


async def wait_for_end(platform: Platform, principal: Principal, generation_id: str) -> Generation:
    """The job once terminal; past the bound it is cancelled (refunded) and 504 raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + platform.settings.openai_compat_wait_s
    # Subscribed before the first read, so an end published in between is not missed.
    async with platform.bus.subscribe(principal.account_id) as subscription:
        while True:
            generation = await platform.generations.get(principal, generation_id)
            if Status(generation.status).is_terminal:
                return generation
            remaining = deadline - loop.time()
            if remaining <= 0:
                return await _give_up(platform, principal, generation_id)
            await _next_event_of(subscription, generation_id, min(remaining, RECHECK_S))


async def _next_event_of(subscription: Subscription, generation_id: str, wait_s: float) -> None:
    """Return when the bus says something of ``generation_id``, or after ``wait_s``."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            event = await subscription.get(left)
        except EventsLost:
            return
        if event is None or event.generation_id == generation_id:
            return


async def _give_up(platform: Platform, principal: Principal, generation_id: str) -> Generation:
    try:
        await platform.generations.cancel(principal, generation_id)
    except Conflict:  # it ended just now: answer with it after all
        return await platform.generations.get(principal, generation_id)
    bound = platform.settings.openai_compat_wait_s
    raise JobNotFinished(
        f"Generation {generation_id} did not finish within {bound:g} s, this server's wait for "
        "OpenAI-compatible requests; it was cancelled and refunded. Long jobs: use "
        "/api/v1 (asynchronous) instead.",
        details={"generation_id": generation_id},
    )


def succeeded(generation: Generation) -> Generation:
    """The generation when it has outputs to answer with; else its own error, refunded."""
    if generation.status in (Status.COMPLETED, Status.PARTIALLY_COMPLETED) and generation.outputs:
        return generation
    error = generation.error or {}
    code = str(error.get("code") or "engine_error")
    cls = JOB_ERRORS.get(code, DEFAULT_JOB_ERROR)
    message = str(error.get("message") or f"Generation {generation.id} {generation.status}.")
    failure: MediaStudioError = cls(message, details={"generation_id": generation.id})
    raise failure


@asynccontextmanager
async def output_file(platform: Platform, key: str) -> AsyncIterator[Path]:
    """A stored output as a local file: in place on local storage, else a temporary copy."""
    local = platform.storage.local_path(key)
    if local is not None:
        yield local
        return
    folder = Path(tempfile.mkdtemp(prefix="compat-", dir=platform.settings.data_dir))
    try:
        target = folder / Path(key).name
        await platform.storage.copy_to(key, target)
        yield target
    finally:
        with suppress(OSError):
            await asyncio.to_thread(shutil.rmtree, folder)


async def output_bytes(platform: Platform, key: str) -> bytes:
    async with output_file(platform, key) as path:
        return await asyncio.to_thread(path.read_bytes)


async def output_b64(platform: Platform, key: str) -> str:
    return base64.b64encode(await output_bytes(platform, key)).decode("ascii")
