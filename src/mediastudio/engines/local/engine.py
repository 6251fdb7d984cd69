"""The local engine: image and video models whose weights are folders on this machine
(registered with ``mediastudio models pull <dir>``), run with diffusers on the GPU when there is
one, else the CPU; and transcription models, faster-whisper folders (:mod:`.transcription`). A
model registered as serving an alias (``--serves flux-schnell``) is also offered to the alias's
engine as its first route (:meth:`LocalEngine.serving`).

Nothing here imports torch or faster-whisper until a job runs or the device must be known, so
the server and the CLI start without the ``[local]`` extra; registered models are then listed
unavailable, with the command that installs it.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from mediastudio.engines.contract import (
    Availability,
    Engine,
    EngineError,
    ModelSpec,
    OutputFile,
    RunContext,
)
from mediastudio.engines.inputs import TranscriptionInput
from mediastudio.engines.local import diffusion, placement, registrations, transcription, whisper
from mediastudio.engines.local.inputs import (
    MAX_INPUT_IMAGE_BYTES,
    LocalImageInput,
    native_side,
    output_size,
    planner,
    seeds,
)
from mediastudio.engines.local.registrations import ID_PREFIX, LocalModel
from mediastudio.engines.local.residency import Residency
from mediastudio.engines.local.video_inputs import (
    LocalVideoInput,
    frame_count,
    frame_size,
    temporal_step,
    video_planner,
)
from mediastudio.engines.media.images import ImageHeader, add_image_output, open_image
from mediastudio.engines.media.video import VideoWriter
from mediastudio.settings import Settings

logger = logging.getLogger("mediastudio.engines.local")
R = TypeVar("R")

# The operator's own hardware: token prices, MEDIASTUDIO_MODEL_PRICES sets them.
CREDITS_PER_IMAGE = 1
CREDITS_PER_VIDEO = 5
SLOT_WAIT_S = 0.2  # how often a job waiting for the GPU checks whether it was cancelled
TIMEOUT_S = 1800.0  # a first load from a slow disk plus a CPU's minutes per image
# The registration kinds this engine runs; the others have engines of their own (piper.py).
KINDS = (registrations.DIFFUSERS, registrations.DIFFUSERS_VIDEO, registrations.FASTER_WHISPER)


class LocalEngine(Engine):
    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._device: diffusion.Device | None = None
        self._cache: Residency[Any] | None = None
        # Whisper runs on CTranslate2, not torch: its own device and its own models' budget.
        self._whisper_device: diffusion.Device | None = None
        self._whisper_cache: Residency[Any] | None = None
        self._setup = threading.Lock()
        # Weight sizes read from the files' headers, per registration and precision: every job
        # places its pipeline, and a folder's files do not change under one registration.
        self._weights: dict[tuple[str, str, str], placement.Weights] = {}
        # Jobs on a GPU at once, whichever pool runs them: the gpu pool's own jobs and an
        # alias's local route (which runs in the alias's io job) share the device's slots.
        self._slots = threading.BoundedSemaphore(max(1, settings.workers_gpu))

    # The catalog ------------------------------------------------------------------------------

    def models(self) -> Sequence[ModelSpec]:
        registered = self._registered()
        diffusers = [model for model in registered if model.kind != registrations.FASTER_WHISPER]
        if diffusers and not diffusion.missing_modules():
            # Called once while the registry is built, before any request: torch and diffusers
            # are imported now (seconds) rather than by the first catalog request, on the loop.
            diffusion.import_modules()
        return [self._spec(model) for model in registered]

    def resolve(self, model_id: str, type_: str | None) -> ModelSpec | None:
        """A model registered after the server started (the catalog lists it from the next
        start; it can run at once)."""
        if not model_id.startswith(ID_PREFIX):
            return None
        model = registrations.find(self.settings.data_dir, model_id)
        if model is None or model.kind not in KINDS:
            return None
        spec = self._spec(model)
        return spec if type_ in (None, spec.type) else None

    def serving(self, alias: str) -> Sequence[ModelSpec]:
        """The models registered as serving ``alias`` (``models pull --serves``): the alias's
        engine runs them, through :meth:`run`, before its provider routes."""
        try:
            return [
                self._spec(model) for model in registrations.serving(self.settings.data_dir, alias)
            ]
        except registrations.RegistrationError:
            logger.exception("local model registrations unreadable; none serves %s", alias)
            return []

    def availability(self, model: ModelSpec) -> Availability:
        if model.type == transcription.TYPE:
            return self._whisper_availability(model)
        missing = diffusion.missing_modules()
        if missing:
            return Availability.missing(
                f"{', '.join(missing)} not installed: {diffusion.EXTRA_HINT}"
            )
        problem = diffusion.device_problem(self.device())
        if problem is not None:
            return Availability.missing(problem)
        registered = registrations.find(self.settings.data_dir, model.id)
        if registered is None:
            return Availability.missing(f"{model.id} is no longer registered.")
        try:
            _, pipeline = registrations.detect_kind(registered.folder)
        except registrations.RegistrationError as exc:
            return Availability.missing(str(exc))
        unknown = diffusion.unknown_pipeline(pipeline)
        return Availability.ok() if unknown is None else Availability.missing(unknown)

    def _whisper_availability(self, model: ModelSpec) -> Availability:
        missing = whisper.missing_modules()
        if missing:
            return Availability.missing(f"{', '.join(missing)} not installed: {whisper.EXTRA_HINT}")
        problem = whisper.device_problem(self.whisper_device())
        if problem is not None:
            return Availability.missing(problem)
        registered = registrations.find(self.settings.data_dir, model.id)
        if registered is None:
            return Availability.missing(f"{model.id} is no longer registered.")
        try:
            registrations.detect_kind(registered.folder)
        except registrations.RegistrationError as exc:
            return Availability.missing(str(exc))
        return Availability.ok()

    def _registered(self) -> list[LocalModel]:
        try:
            found = registrations.load(self.settings.data_dir)
        except registrations.RegistrationError:
            logger.exception("local model registrations unreadable; none listed")
            return []
        return [model for model in found if model.kind in KINDS]

    def _spec(self, model: LocalModel) -> ModelSpec:
        if model.kind == registrations.FASTER_WHISPER:
            return ModelSpec(
                id=model.id,
                name=f"{model.folder.name} (local Whisper)",
                type=transcription.TYPE,
                input_model=TranscriptionInput,
                credits=transcription.CREDITS_PER_TRANSCRIPT,
                description=f"Weights in {model.path}, run here with faster-whisper: segments "
                "with their times, SRT and WebVTT captions.",
                category="local",
                pool=self._whisper_pool(),
                timeout_s=transcription.TIMEOUT_S,
                output_kind="file",
                plan=transcription.plan,
            )
        if model.kind == registrations.DIFFUSERS_VIDEO:
            return ModelSpec(
                id=model.id,
                name=f"{model.folder.name} (local {model.pipeline})",
                type="video",
                input_model=LocalVideoInput,
                credits=CREDITS_PER_VIDEO,
                description=f"Weights in {model.path}, run here with diffusers."
                + self._placement_note(model),
                category="local",
                pool=self._pool(),
                timeout_s=TIMEOUT_S,
                plan=video_planner(model.folder),
            )
        return ModelSpec(
            id=model.id,
            name=f"{model.folder.name} (local {model.pipeline})",
            type="image",
            input_model=LocalImageInput,
            credits=CREDITS_PER_IMAGE,
            description=f"Weights in {model.path}, run here with diffusers."
            + self._placement_note(model),
            category="local",
            price_unit="output",
            pool=self._pool(),
            timeout_s=TIMEOUT_S,
            plan=planner(model.folder),
        )

    def _placement_note(self, model: LocalModel) -> str:
        """ " It runs with model offload: …" for the description, or nothing."""
        summary = self._placement_summary(model)
        return "" if summary is None else f" It {summary}."

    def placement_summary(self, model_id: str) -> str | None:
        """How the registered diffusers model ``model_id`` will sit on the device ("runs with
        model offload: 9.1 GB of weights, 8.0 GB budget"), or None for another kind."""
        model = registrations.find(self.settings.data_dir, model_id)
        if model is None or model.kind not in (
            registrations.DIFFUSERS,
            registrations.DIFFUSERS_VIDEO,
        ):
            return None
        return self._placement_summary(model)

    def _placement_summary(self, model: LocalModel) -> str | None:
        """None where the device cannot be known (no extra, a CUDA device torch does not
        see) or the files cannot be read."""
        try:
            if diffusion.missing_modules() or diffusion.device_problem(self.device()):
                return None
            return self.placement_of(model).summary()
        except (OSError, RuntimeError) as exc:  # unreadable files, a device that cannot answer
            logger.warning("placement of %s unknown: %s", model.id, exc)
            return None

    def placement_of(self, model: LocalModel) -> placement.Placement:
        """How ``model``'s pipeline will sit on the device (MEDIASTUDIO_LOCAL_OFFLOAD), from
        its weight files, without loading it."""
        device = self.device()
        key = (model.path, model.registered_at, device.dtype)
        weights = self._weights.get(key)
        if weights is None:
            weights = self._weights[key] = placement.estimate(model.folder, device.dtype)
        budget = self.residency().budget_bytes
        return placement.decide(
            weights, budget, on_gpu=device.is_gpu, setting=self.settings.local_offload
        )

    def _pool(self) -> str:
        """The gpu pool (one job per device by default: MEDIASTUDIO_WORKERS_GPU) when jobs will
        run on CUDA, else the cpu pool. Without the extra the jobs fail anyway: cpu."""
        if diffusion.missing_modules():
            return "cpu"
        return "gpu" if self.device().is_gpu else "cpu"

    def _whisper_pool(self) -> str:
        if whisper.missing_modules():
            return "cpu"
        return "gpu" if self.whisper_device().is_gpu else "cpu"

    # Running ----------------------------------------------------------------------------------

    def device(self) -> diffusion.Device:
        with self._setup:
            if self._device is None:
                self._device = diffusion.pick_device(
                    self.settings.local_device, self.settings.local_dtype
                )
            return self._device

    def residency(self) -> Residency[Any]:
        device = self.device()
        with self._setup:
            if self._cache is None:
                budget = self.settings.local_memory_bytes or int(
                    0.8 * diffusion.device_memory_bytes(device)
                )
                self._cache = Residency(budget, release=diffusion.release)
            return self._cache

    def whisper_device(self) -> diffusion.Device:
        with self._setup:
            if self._whisper_device is None:
                self._whisper_device = whisper.pick_device(self.settings.local_device)
            return self._whisper_device

    def whisper_residency(self) -> Residency[Any]:
        device = self.whisper_device()
        with self._setup:
            if self._whisper_cache is None:
                budget = self.settings.local_memory_bytes or int(0.8 * whisper.memory_bytes(device))
                self._whisper_cache = Residency(budget, release=whisper.release)
            return self._whisper_cache

    def run(self, ctx: RunContext) -> None:
        model = registrations.find(self.settings.data_dir, ctx.model.id)
        if model is None:
            raise EngineError(f"{ctx.model.id} is no longer registered.")
        if model.kind == registrations.FASTER_WHISPER:
            self._run_transcription(ctx, model)
            return
        if isinstance(ctx.input, LocalVideoInput):
            self._run_video(ctx, model, ctx.input)
            return
        validated = ctx.input
        assert isinstance(validated, LocalImageInput)
        source = _source(validated, ctx)
        header = None if source is None else ImageHeader(source.width, source.height, False)
        width, height = output_size(validated, native_side(model.folder), header)
        first = validated.seed if validated.seed is not None else secrets.randbelow(2**32)
        images = seeds(validated, first)
        placed = self.placement_of(model)
        with self._pipeline(ctx, model, placed) as pipe:
            for index, seed in enumerate(images):
                ctx.check_cancelled()
                request = _request(validated, (width, height), seed, source)
                hook = _stepper(ctx, index, len(images))
                image = self._retrying_out_of_memory(
                    model, placed, functools.partial(diffusion.generate, pipe, request, hook)
                )
                add_image_output(ctx, image.convert("RGB"), validated.output_format, seed=seed)

    def _run_video(self, ctx: RunContext, model: LocalModel, validated: LocalVideoInput) -> None:
        """One video: the frames denoised with progress per step, encoded to H.264 MP4."""
        width, height = frame_size(validated)
        frames = frame_count(validated, temporal_step(model.folder))
        seed = validated.seed if validated.seed is not None else secrets.randbelow(2**32)
        source = _video_source(validated, ctx, (width, height))
        request = diffusion.VideoRequest(
            prompt=validated.prompt,
            negative_prompt=validated.negative_prompt,
            width=width,
            height=height,
            frames=frames,
            fps=validated.fps,
            steps=validated.steps,
            guidance_scale=validated.guidance_scale,
            seed=seed,
            image=source,
        )
        placed = self.placement_of(model)
        with self._pipeline(ctx, model, placed) as pipe:
            ctx.check_cancelled()
            made = self._retrying_out_of_memory(
                model,
                placed,
                lambda: diffusion.generate_video(pipe, request, _stepper(ctx, 0, 1)),
            )
        ctx.check_cancelled()
        path = ctx.output_path(".mp4")
        with VideoWriter(path, width, height, fps=validated.fps) as writer:
            for frame in made:
                if frame.size != (width, height):  # a pipeline that rounds differently
                    frame = frame.resize((width, height))
                writer.write(np.asarray(frame, dtype=np.uint8))
        ctx.add_output(
            OutputFile(
                path,
                "video/mp4",
                width=width,
                height=height,
                duration_s=round(writer.duration_s, 3),
                extra={"seed": seed},
            )
        )

    def _run_transcription(self, ctx: RunContext, model: LocalModel) -> None:
        """The input decoded first (no device slot held meanwhile), then transcribed by the
        resident model with a slot of its device."""
        request = replace(transcription.request(ctx), fallback=self.settings.local_whisper_fallback)
        device, cache = self.whisper_device(), self.whisper_residency()

        def load() -> tuple[Any, int]:
            return whisper.load_model(model.folder, device)

        estimate = registrations.weight_bytes(model.folder)
        with (
            self._device_slot(ctx, device),
            cache.use(model.id, load, estimate=estimate, should_stop=ctx.check_cancelled) as found,
        ):
            transcription.run(ctx, found, request)

    @contextmanager
    def _pipeline(
        self, ctx: RunContext, model: LocalModel, placed: placement.Placement
    ) -> Iterator[Any]:
        """``model``'s pipeline, loaded once and kept warm (residency), held with a slot of its
        device for the job; a CUDA out-of-memory empties the cache of what is not in use, so
        the next job has the room. The residency counts what it holds on the device: all its
        weights, or under offload the largest component (or none)."""
        device, cache = self.device(), self.residency()

        def load() -> tuple[Any, int]:
            logger.info("loading %s: it %s", model.id, placed.summary())
            return diffusion.load_pipeline(model.folder, device, placed.mode)

        estimate = placed.device_bytes
        try:
            with (
                self._device_slot(ctx, device),
                cache.use(
                    model.id, load, estimate=estimate, should_stop=ctx.check_cancelled
                ) as pipe,
            ):
                yield pipe
        except diffusion.OutOfMemory:
            cache.clear()
            raise

    def _retrying_out_of_memory(
        self, model: LocalModel, placed: placement.Placement, attempt: Callable[[], R]
    ) -> R:
        """``attempt()``; when it runs out of device memory with the pipeline wholly on the
        device, the other resident pipelines are evicted and it is tried once more (they were
        the likeliest holders of the missing memory). An offloaded pipeline, or nothing else to
        evict, fails at once; a second out-of-memory fails the job as before."""
        try:
            return attempt()
        except diffusion.OutOfMemory:
            if placed.mode != "none":
                raise
            evicted = self.residency().clear()
            if not evicted:
                raise
            logger.warning(
                "out of memory running %s: evicted %s and trying once more",
                model.id,
                ", ".join(evicted),
            )
            return attempt()

    @contextmanager
    def _device_slot(self, ctx: RunContext, device: diffusion.Device) -> Iterator[None]:
        """One of the GPU's job slots (MEDIASTUDIO_WORKERS_GPU), waited for while the job is not
        cancelled; the CPU's jobs are bounded by the cpu pool alone."""
        if not device.is_gpu:
            yield
            return
        while not self._slots.acquire(timeout=SLOT_WAIT_S):
            ctx.check_cancelled()
        try:
            yield
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        for cache in (self._cache, self._whisper_cache):
            if cache is not None:
                cache.clear()


def _source(validated: LocalImageInput, ctx: RunContext) -> Image.Image | None:
    """The image to start from, upright, in RGB (the same file and header the plan reads)."""
    if validated.image_url is None:
        return None
    path = ctx.fetcher.fetch(validated.image_url, max_bytes=MAX_INPUT_IMAGE_BYTES)
    return open_image(path, mode="RGB")


def _video_source(
    validated: LocalVideoInput, ctx: RunContext, size: tuple[int, int]
) -> Image.Image | None:
    """The first frame to animate, upright, in RGB, at the video's frame size."""
    if validated.first_frame_image is None:
        return None
    path = ctx.fetcher.fetch(validated.first_frame_image, max_bytes=MAX_INPUT_IMAGE_BYTES)
    return open_image(path, mode="RGB").resize(size)


def _request(
    validated: LocalImageInput, size: tuple[int, int], seed: int, source: Image.Image | None
) -> diffusion.Request:
    return diffusion.Request(
        prompt=validated.prompt,
        negative_prompt=validated.negative_prompt,
        width=size[0],
        height=size[1],
        steps=validated.steps,
        guidance_scale=validated.guidance_scale,
        scheduler=validated.scheduler,
        seed=seed,
        image=source.resize(size) if source is not None else None,
        strength=validated.strength,
    )


def _stepper(ctx: RunContext, index: int, count: int) -> diffusion.StepHook:
    """Progress after each denoising step (over all the outputs), then a stop if the job was
    cancelled or timed out: cancellation takes effect between two steps."""

    def on_step(done: int, total: int) -> None:
        ctx.progress((index + min(done, total) / max(total, 1)) / count)
        ctx.check_cancelled()

    return on_step
