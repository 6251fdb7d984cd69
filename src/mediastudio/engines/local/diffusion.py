"""Loading and running diffusers pipelines. The only module that imports torch and diffusers,
and only when a local job runs (the ``[local]`` extra is optional)."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from mediastudio.engines.contract import EngineError, InvalidInput
from mediastudio.engines.local.hub import variant_of
from mediastudio.engines.local.inputs import SCHEDULERS
from mediastudio.engines.local.placement import Placed
from mediastudio.engines.local.registrations import DENOISERS, WEIGHT_SUFFIXES

logger = logging.getLogger("mediastudio.engines.local")

EXTRA_HINT = "pip install 'mediastudio[local]'"
REQUIRED_MODULES = ("torch", "diffusers", "transformers", "safetensors")


class OutOfMemory(EngineError):
    """The device ran out of memory for this job. The job fails and is refunded; the worker and
    the other resident models stay, and the next job may fit (smaller size, fewer outputs)."""

    code = "out_of_memory"


def missing_modules() -> list[str]:
    """The ``[local]`` extra's modules that cannot be imported here (none: the extra is in)."""
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def import_modules() -> None:
    """Import the extra's modules (the pipelines' too: diffusers loads them lazily)."""
    for name in (*REQUIRED_MODULES, "diffusers.pipelines.auto_pipeline"):
        importlib.import_module(name)


@dataclass(frozen=True)
class Device:
    name: str  # "cpu", "cuda", "cuda:1"
    dtype: str  # "float32", "float16", "bfloat16"

    @property
    def is_gpu(self) -> bool:
        return self.name.startswith("cuda")


def pick_device(setting: str, dtype_setting: str) -> Device:
    """``auto``: the first CUDA device when there is one, else the CPU. Half precision on GPU
    (bf16 where the card supports it, else fp16), fp32 on CPU (fp16 matmuls are slow there)."""
    import torch

    name = setting
    if setting == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = dtype_setting
    if dtype_setting == "auto":
        if not name.startswith("cuda"):
            dtype = "float32"
        else:
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return Device(name, dtype)


def device_problem(device: Device) -> str | None:
    """Why jobs cannot run on ``device`` (a CUDA device asked of a torch without CUDA), or None."""
    import torch

    if not device.is_gpu or torch.cuda.is_available():
        return None
    return (
        f"MEDIASTUDIO_LOCAL_DEVICE={device.name} but this torch ({torch.__version__}) sees no "
        "CUDA device: install a CUDA build of torch, or set it to auto or cpu"
    )


def device_memory_bytes(device: Device) -> int:
    """All the memory of the device: the GPU's, or the machine's RAM for the CPU."""
    if device.is_gpu:
        import torch

        _, total = torch.cuda.mem_get_info(torch.device(device.name))
        return int(total)
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def load_pipeline(folder: Path, device: Device, offload: Placed = "none") -> tuple[Any, int]:
    """The pipeline saved in ``folder``, on ``device`` in its precision, and the bytes its
    weights take there. Only files on disk are read: no hub, no network. ``offload`` (see
    :mod:`.placement`): ``none`` moves every component to the device; ``model`` leaves them in
    RAM and moves each to the device while it runs (the device holds the largest); and
    ``sequential`` streams them layer by layer (the device holds next to none of them)."""
    import torch
    from diffusers import DiffusionPipeline

    with _out_of_memory_fails_the_job():
        try:
            # torch_dtype: the keyword every diffusers of the extra's range takes (newer ones
            # also take dtype, and warn that torch_dtype goes in 1.0).
            pipeline = DiffusionPipeline.from_pretrained(  # type: ignore[no-untyped-call]
                str(folder),
                torch_dtype=getattr(torch, device.dtype),
                local_files_only=True,
                variant=saved_variant(folder),
            )
        except (OSError, ValueError, KeyError) as exc:  # missing or unreadable files, bad configs
            raise EngineError(f"The weights in {folder} could not be loaded: {exc}") from exc
        pipeline.set_progress_bar_config(disable=True)
        if offload == "model":
            pipeline.enable_model_cpu_offload(device=device.name)
            return pipeline, max(component_bytes(pipeline).values(), default=0)
        if offload == "sequential":
            pipeline.enable_sequential_cpu_offload(device=device.name)
            return pipeline, 0
        pipeline.to(device.name)
    return pipeline, module_bytes(pipeline)


def saved_variant(folder: Path) -> str | None:
    """The weights variant a pipeline folder holds instead of plain weights (``fp16`` after
    ``models pull --variant fp16``: ``unet/diffusion_pytorch_model.fp16.safetensors``), which
    diffusers loads only when asked for it; None for plain weights."""
    for component in DENOISERS:
        names = [
            path.name
            for path in (folder / component).glob("*")
            if path.name.endswith(WEIGHT_SUFFIXES)
        ]
        variants = {variant_of(name) for name in names}
        if names and None not in variants:
            return sorted(v for v in variants if v is not None)[0]
    return None


def unknown_pipeline(pipeline_class: str) -> str | None:
    """Why this diffusers cannot build ``pipeline_class`` (a FLUX folder on a diffusers from
    before FLUX), or None when it can."""
    import diffusers

    if hasattr(diffusers, pipeline_class):
        return None
    return (
        f"diffusers {diffusers.__version__} has no {pipeline_class}: "
        "pip install --upgrade diffusers"
    )


def module_bytes(pipeline: Any) -> int:
    """What the pipeline's torch modules hold: every parameter and buffer."""
    return sum(component_bytes(pipeline).values())


def component_bytes(pipeline: Any) -> dict[str, int]:
    """What each of the pipeline's torch modules holds: its parameters and buffers."""
    import torch

    sizes: dict[str, int] = {}
    for name, component in pipeline.components.items():
        if isinstance(component, torch.nn.Module):
            tensors = [*component.parameters(), *component.buffers()]
            sizes[name] = sum(tensor.numel() * tensor.element_size() for tensor in tensors)
    return sizes


def release(pipeline: Any) -> None:
    """Drop an evicted pipeline and hand its device memory back to the driver."""
    del pipeline
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass(frozen=True)
class Request:
    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    steps: int | None
    guidance_scale: float | None
    scheduler: str | None
    seed: int
    image: Image.Image | None  # image to image when set (already at width x height)
    strength: float


# (denoising steps done, steps in all) after each step; may raise to stop between steps.
StepHook = Callable[[int, int], None]


def generate(pipeline: Any, request: Request, on_step: StepHook) -> Image.Image:
    """One image from the resident ``pipeline``: text to image, or image to image when the
    request has an image. The pipeline is shared by jobs, so this one gets its own view of it
    (diffusers' ``from_pipe``: same weights, no copy) and its own scheduler instance, whose
    timestep state must not be shared."""
    import torch

    task = _prepared(
        _task_pipeline(pipeline, request.image is not None), pipeline, request.scheduler
    )
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "generator": _cpu_generator(request.seed),
        "output_type": "pil",
        "callback_on_step_end": _step_end(on_step, request.steps),
    }
    if request.image is None:
        arguments |= {"width": request.width, "height": request.height}
    else:
        arguments |= {"image": request.image, "strength": request.strength}
    with _out_of_memory_fails_the_job(), torch.inference_mode():
        result = task(**_accepted(task, arguments))
    image = result.images[0]
    assert isinstance(image, Image.Image)
    return image


def _prepared(task: Any, pipeline: Any, scheduler: str | None) -> Any:
    """``task`` (a view of the resident ``pipeline``) with a scheduler instance of its own,
    whose timestep state must not be shared with other jobs, and no progress bar."""
    task.scheduler = _scheduler(pipeline, scheduler)
    task.set_progress_bar_config(disable=True)
    return task


def _step_end(on_step: StepHook, steps: int | None) -> Callable[..., dict[str, Any]]:
    """diffusers' ``callback_on_step_end``, reporting (steps done, steps in all)."""

    def step_end(
        pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        on_step(step + 1, int(getattr(pipe, "num_timesteps", 0) or steps or 1))
        return callback_kwargs

    return step_end


def _cpu_generator(seed: int) -> Any:
    """The noise is drawn on the CPU whatever the device: the same seed starts from the same
    latents everywhere, and the same seed on the same device gives the same output."""
    import torch

    return torch.Generator(device="cpu").manual_seed(seed)


@dataclass(frozen=True)
class VideoRequest:
    prompt: str | None
    negative_prompt: str | None
    width: int
    height: int
    frames: int
    fps: int
    steps: int | None
    guidance_scale: float | None
    seed: int
    image: Image.Image | None  # image to video when set (already at width x height)


# A video pipeline's sibling for the other task over the same weights (from_pipe): LTX-Video's
# text-to-video and image-to-video pipelines share every component.
VIDEO_SIBLINGS = {
    "LTXPipeline": "LTXImageToVideoPipeline",
    "LTXImageToVideoPipeline": "LTXPipeline",
}


def generate_video(pipeline: Any, request: VideoRequest, on_step: StepHook) -> list[Image.Image]:
    """The frames of one video from the resident ``pipeline``: text to video, or image to
    video when the request has an image; like :func:`generate`, a view of its own with its own
    scheduler, and noise drawn on the CPU."""
    import torch

    task = _prepared(_video_task_pipeline(pipeline, request.image is not None), pipeline, None)
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "width": request.width,
        "height": request.height,
        "num_frames": request.frames,
        "frame_rate": request.fps,  # LTX-Video conditions on the rate
        "fps": request.fps,  # SVD's name for it
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "image": request.image,
        "generator": _cpu_generator(request.seed),
        "output_type": "pil",
        "callback_on_step_end": _step_end(on_step, request.steps),
    }
    with _out_of_memory_fails_the_job(), torch.inference_mode():
        try:
            result = task(**_accepted(task, arguments))
        except ValueError as exc:  # the pipeline's own checks of the request (size, prompt)
            raise InvalidInput(f"{type(task).__name__} refused the request: {exc}") from exc
    return _frames(result.frames[0])


def _video_task_pipeline(pipeline: Any, from_image: bool) -> Any:
    """The pipeline that does the task: the registered one when its call takes (or needs) an
    image as the task does, else its sibling over the same weights."""
    import diffusers

    takes_image = "image" in inspect.signature(pipeline.__call__).parameters
    own = type(pipeline)
    if takes_image == from_image:
        return own.from_pipe(pipeline)
    sibling = VIDEO_SIBLINGS.get(own.__name__)
    if sibling is None or not hasattr(diffusers, sibling):
        task = "animate an image" if from_image else "make a video without a first_frame_image"
        raise InvalidInput(f"This model ({own.__name__}) cannot {task} here.")
    return getattr(diffusers, sibling).from_pipe(pipeline)


def _frames(frames: Any) -> list[Image.Image]:
    """A video's frames as RGB images, whatever the pipeline handed back (PIL or arrays)."""
    import numpy as np

    if isinstance(frames, list) and all(isinstance(frame, Image.Image) for frame in frames):
        return [frame.convert("RGB") for frame in frames]
    array = np.asarray(frames)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    return [Image.fromarray(frame).convert("RGB") for frame in array]


def _task_pipeline(pipeline: Any, from_image: bool) -> Any:
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

    auto = AutoPipelineForImage2Image if from_image else AutoPipelineForText2Image
    try:
        return auto.from_pipe(pipeline)
    except ValueError as exc:  # diffusers has no such task for this pipeline family
        task = "image to image" if from_image else "text to image"
        raise InvalidInput(
            f"This model ({type(pipeline).__name__}) cannot do {task} here."
        ) from exc


def _scheduler(pipeline: Any, name: str | None) -> Any:
    """A fresh scheduler: the model's own kind, or the named one, from the model's config."""
    import diffusers

    own = pipeline.scheduler
    if name is None:
        return type(own).from_config(own.config)
    if "FlowMatch" in type(own).__name__:
        raise InvalidInput(
            f"This model samples with {type(own).__name__}; leave scheduler out for it."
        )
    return getattr(diffusers, SCHEDULERS[name]).from_config(own.config)


def _accepted(task: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments this pipeline takes: unset ones are left to its defaults, and a set one
    it does not take (FLUX.1-schnell has no negative prompt) is refused rather than ignored."""
    parameters = inspect.signature(task.__call__).parameters
    accepted: dict[str, Any] = {}
    for name, value in arguments.items():
        if value is None:
            continue
        if name not in parameters:
            if name == "negative_prompt":
                raise InvalidInput(f"{type(task).__name__} takes no negative_prompt.")
            continue
        accepted[name] = value
    return accepted


@contextmanager
def _out_of_memory_fails_the_job() -> Iterator[None]:
    """A CUDA (or other device) out-of-memory becomes :class:`OutOfMemory` after the cached
    blocks are handed back, so the worker carries on and the job is refunded."""
    import torch

    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:  # torch.OutOfMemoryError in torch >= 2.5
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        logger.warning("out of memory: %s", exc)
        raise OutOfMemory(
            "The device ran out of memory for this job; try a smaller size or fewer outputs, "
            "or lower MEDIASTUDIO_LOCAL_MEMORY_BYTES so fewer models stay resident."
        ) from exc
