"""The ``providers`` engine: models that run on hosted providers with the operator's keys.

It is an engine like the built-in ones: the catalog lists its models (unavailable, with the
reason, when no provider of theirs has a key), sandbox keys get the sandbox twin instead (the
runner never calls this engine for them), and a job runs as a coroutine that waits on the
network without holding a thread. A job walks its model's routes (:mod:`.routing`): each
attempt submits to (or resumes) one provider's job, polls it and copies its outputs in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

from mediastudio.engines.contract import (
    Availability,
    Engine,
    ModelSpec,
    ProviderError,
    RunContext,
    Voice,
)
from mediastudio.engines.inputs import IMAGE_EDIT_TYPE, ImageEditInput
from mediastudio.engines.media.images import read_header
from mediastudio.engines.providers.catalog import (
    CURATED,
    ELEVENLABS,
    FAL,
    OPENAI,
    REPLICATE,
    resolve_generic,
)
from mediastudio.engines.providers.elevenlabs import client as elevenlabs
from mediastudio.engines.providers.fal import client as fal
from mediastudio.engines.providers.http import Pause, display_name
from mediastudio.engines.providers.inputs import OPENAI_TTS_1_VOICES, OPENAI_VOICES
from mediastudio.engines.providers.jobs import (
    CANCEL_CHECK_S,
    Polling,
    RemoteJobs,
    pauser,
    run_remote,
)
from mediastudio.engines.providers.local import (
    LOCAL,
    LOCAL_BUILDS,
    NONE,
    LocalRoutes,
    local_routes,
    run_local,
)
from mediastudio.engines.providers.media import (
    Delivered,
    Uploader,
    collect_outputs,
    file_reference,
    image_suffix,
    input_reference,
    keep_delivered,
)
from mediastudio.engines.providers.openai import client as openai
from mediastudio.engines.providers.openai import mapping as openai_mapping
from mediastudio.engines.providers.openai import transcription, translation
from mediastudio.engines.providers.replicate import client as replicate
from mediastudio.engines.providers.routes import ProviderModel, Route
from mediastudio.engines.providers.routing import plan, run_routes
from mediastudio.engines.providers.steps import SpokenText, spoken_text
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import ProviderSettings, Settings

KEY_SETTINGS = {
    REPLICATE: replicate.API_KEY_SETTING,
    FAL: fal.API_KEY_SETTING,
    OPENAI: openai.API_KEY_SETTING,
    ELEVENLABS: elevenlabs.API_KEY_SETTING,
}
# Each OpenAI speech model's voices (GET /api/v1/voices). They speak the text's language; their
# main language, the one they are tuned for, is English.
OPENAI_MODEL_VOICES = {
    "openai/gpt-4o-mini-tts": OPENAI_VOICES,
    "openai/tts-1": OPENAI_TTS_1_VOICES,
}
T = TypeVar("T")
SPOKEN_FIELD = "audio_url"  # where an avatar's spoken text goes
logger = logging.getLogger("mediastudio.providers")


class JobAdapter(RemoteJobs, Uploader, Protocol):
    """A provider with jobs: submit, poll, cancel (Replicate, fal)."""

    async def aclose(self) -> None: ...


@runtime_checkable
class CallAdapter(Protocol):
    """A provider whose answer is the output: one synchronous request (OpenAI)."""

    name: str

    async def call(self, target: str, payload: dict[str, Any], pause: Pause) -> list[Delivered]: ...

    async def aclose(self) -> None: ...


Adapter = JobAdapter | CallAdapter


class ProvidersEngine(Engine):
    name = "providers"

    def __init__(
        self,
        settings: Settings,
        adapters: Mapping[str, Adapter] | None = None,
        registry: EngineRegistry | None = None,
    ) -> None:
        # The registry finds the models other engines offer to serve an alias first (local
        # weights: see .local); without one, the aliases have their provider routes only.
        self._registry = registry
        # Local routes' blocking runs (see .local), one thread per io job at most.
        self._local_threads = ThreadPoolExecutor(
            max_workers=max(1, settings.workers_io), thread_name_prefix="local-route"
        )
        self._adapters = dict(adapters) if adapters is not None else _configured(settings)
        self._polling = {
            REPLICATE: _polling(settings.providers.replicate),
            FAL: _polling(settings.providers.fal),
        }
        self._voices = {
            model: tuple(Voice(voice, voice.capitalize(), ("en",)) for voice in voices)
            for model, voices in OPENAI_MODEL_VOICES.items()
        }
        self._curated = {model.spec.id: model for model in CURATED}

    def models(self) -> Sequence[ModelSpec]:
        return [model.spec for model in CURATED]

    def resolve(self, model_id: str, type_: str | None) -> ModelSpec | None:
        found = resolve_generic(model_id, type_)
        return found.spec if found is not None else None

    def availability(self, model: ModelSpec) -> Availability:
        provider_model = self._model(model)
        providers = provider_model.providers
        if any(name in self._adapters for name in providers):
            return Availability.ok()
        if local_routes(provider_model, self._registry).routes:
            return Availability.ok()  # served here, on local weights
        settings = " or ".join(KEY_SETTINGS[name] for name in providers)
        names = " or ".join(display_name(name) for name in providers)
        return Availability.missing(f"no {names} API key on this server: set {settings}")

    def voices(self, model: ModelSpec) -> Sequence[Voice]:
        return self._voices.get(model.id, ())

    async def fetch_voices(self, model: ModelSpec) -> Sequence[Voice]:
        """OpenAI's fixed voices; ElevenLabs' are the account's, read (and kept a while) from
        it. A failure to read them leaves them out of the list rather than failing it."""
        adapter = self._adapters.get(ELEVENLABS)
        if not model.id.startswith(f"{ELEVENLABS}/") or not isinstance(
            adapter, elevenlabs.ElevenLabs
        ):
            return self.voices(model)
        try:
            return await adapter.voices(self._model(model).routes[0].target, asyncio.sleep)
        except ProviderError as exc:
            logger.warning("could not list ElevenLabs' voices: %s", exc)
            return ()

    async def run(self, ctx: RunContext) -> None:
        model = self._model(ctx.model)
        local = NONE
        if model.spec.id in LOCAL_BUILDS:
            # In a thread: asking a local engine may read its files, or import torch the first
            # time. Only an alias a local model can serve asks (no hand-off for the others).
            local = await asyncio.to_thread(local_routes, model, self._registry)
        routed = ProviderModel(model.spec, local.routes + model.routes)
        configured = {*self._adapters, LOCAL} if local.routes else self._adapters
        routes = plan(routed, ctx.input, configured, KEY_SETTINGS)
        spoken = spoken_text(ctx, self._registry)
        await run_routes(ctx, routes, lambda route: self._attempt(ctx, route, local, spoken))

    async def _attempt(
        self, ctx: RunContext, route: Route, local: LocalRoutes, spoken: SpokenText | None = None
    ) -> None:
        """One route: submit (or resume) the provider's job, wait for it, copy its outputs;
        or run the local model that serves the alias."""
        if route.provider == LOCAL:
            await run_local(ctx, route, local.model(route), self._local_threads)
            return
        adapter = self._adapters[route.provider]
        if isinstance(adapter, CallAdapter):
            await _call(ctx, route, adapter)
            return
        job = await run_remote(
            ctx,
            adapter,
            route.target,
            lambda: _payload(ctx, route, adapter, spoken),
            self._polling[route.provider],
        )
        await collect_outputs(ctx, adapter.name, job.outputs)

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._local_threads.shutdown(wait=False)  # a local run still going sees its job stop

    def _model(self, spec: ModelSpec) -> ProviderModel:
        model = self._curated.get(spec.id) or resolve_generic(spec.id, spec.type)
        if model is None:
            raise ValueError(f"{spec.id!r} is not a provider model")
        return model


async def _call(ctx: RunContext, route: Route, adapter: CallAdapter) -> None:
    """One synchronous route: the request's answer is the output. Nothing is remembered: there
    is no provider job to resume, so a restart calls again."""
    ctx.served_by(adapter.name)
    ctx.check_cancelled()
    if ctx.model.type == transcription.TYPE and isinstance(adapter, transcription.Transcriber):
        await _transcribe(ctx, route, adapter)
        return
    if ctx.model.type == IMAGE_EDIT_TYPE and isinstance(adapter, openai.OpenAI):
        await _edit(ctx, route, adapter)
        return
    if ctx.model.type == translation.TYPE and isinstance(adapter, openai.OpenAI):
        await _translate(ctx, route, adapter)
        return
    pause = pauser(ctx)
    delivered = await _unless_cancelled(
        ctx, adapter.call(route.target, route.build(ctx.input, {}), pause)
    )
    await keep_delivered(ctx, adapter.name, delivered)


async def _edit(ctx: RunContext, route: Route, adapter: openai.OpenAI) -> None:
    """An image edit: the image (and mask) read through the job's SSRF-safe fetcher, checked,
    and sent as files with the form's fields; the answer's images kept."""
    assert isinstance(ctx.input, ImageEditInput)
    image, size = await asyncio.to_thread(_image_file, ctx, ctx.input.image_url, "image_url")
    mask_url = getattr(ctx.input, "mask", None)
    mask = None
    if isinstance(mask_url, str):
        mask, _ = await asyncio.to_thread(_image_file, ctx, mask_url, "mask")
    ctx.progress(0.2)
    fields = route.build(ctx.input, {openai_mapping.IMAGE_SIZE: size})
    delivered = await _unless_cancelled(
        ctx, adapter.edit(route.target, image, mask, fields, pauser(ctx))
    )
    await keep_delivered(ctx, adapter.name, delivered)


def _image_file(ctx: RunContext, reference: str, field: str) -> tuple[openai.Upload, str]:
    """An input image as a file to send, and its upright ``WxH`` (blocking: run in a thread)."""
    path = ctx.fetcher.fetch(reference)
    media_type = openai_mapping.edit_file_type(path, field)
    header = read_header(path)
    upload = openai.Upload(f"{field}{image_suffix(media_type)}", path.read_bytes(), media_type)
    return upload, f"{header.width}x{header.height}"


async def _transcribe(ctx: RunContext, route: Route, adapter: transcription.Transcriber) -> None:
    """Speech to text: the input made into a file the provider takes, sent with the form's
    fields; the answer written as the formats asked for."""
    audio = await asyncio.to_thread(transcription.prepare, ctx)
    ctx.progress(0.2)
    answer = await _unless_cancelled(
        ctx, adapter.transcribe(route.target, audio, route.build(ctx.input, {}), pauser(ctx))
    )
    ctx.progress(0.9)
    language = getattr(ctx.input, "language", None)
    words = bool(getattr(ctx.input, "wants_words", False))
    found = transcription.transcript(answer, audio, language, words=words)
    for output in await asyncio.to_thread(transcription.outputs, ctx, found):
        ctx.add_output(output)


async def _translate(ctx: RunContext, route: Route, adapter: openai.OpenAI) -> None:
    """Timed text translated in one chat message; the answer written as a transcript on the
    source's times in the formats asked for."""
    assert isinstance(ctx.input, translation.TranslationInput)
    ctx.progress(0.1)
    answer = await _unless_cancelled(ctx, adapter.chat(route.build(ctx.input, {}), pauser(ctx)))
    lines = translation.translated(answer, len(ctx.input.segments))
    found = translation.transcript(ctx.input, lines)
    for output in await asyncio.to_thread(translation.outputs, ctx, found):
        ctx.add_output(output)


async def _unless_cancelled(ctx: RunContext, work: Awaitable[T]) -> T:
    """``work``'s result, or :class:`JobCancelled` within a quarter of a second of a cancel or a
    timeout (the request is dropped: OpenAI has no cancel to call)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=CANCEL_CHECK_S)
            if done:
                return task.result()
            ctx.check_cancelled()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _payload(
    ctx: RunContext, route: Route, adapter: JobAdapter, spoken: SpokenText | None = None
) -> dict[str, object]:
    """The provider's input: media sent along (see :mod:`.media`; a text spoken by the job's
    speech step is its sound), then the route's mapping."""
    pause = pauser(ctx)
    media: dict[str, str] = {}
    for field in route.media:
        reference = getattr(ctx.input, field, None)
        if field == SPOKEN_FIELD and spoken is not None:
            media[field] = await file_reference(await spoken.path(), field, adapter, pause)
        elif isinstance(reference, str):
            media[field] = await input_reference(ctx, reference, adapter, pause, field)
    return route.build(ctx.input, media)


def _configured(settings: Settings) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    if settings.providers.replicate.api_key is not None:
        adapters[REPLICATE] = replicate.Replicate(settings.providers.replicate)
    if settings.providers.fal.api_key is not None:
        adapters[FAL] = fal.Fal(settings.providers.fal)
    if settings.providers.openai.api_key is not None:
        adapters[OPENAI] = openai.OpenAI(settings.providers.openai)
    if settings.providers.elevenlabs.api_key is not None:
        adapters[ELEVENLABS] = elevenlabs.ElevenLabs(settings.providers.elevenlabs)
    return adapters


def _polling(provider: ProviderSettings) -> Polling:
    return Polling(
        first=provider.poll_interval_s,
        longest=max(provider.poll_interval_s, provider.poll_max_interval_s),
        queue_timeout_s=provider.queue_timeout_s,
    )
