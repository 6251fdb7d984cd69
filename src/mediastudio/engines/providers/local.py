"""The local route: a model on this machine's own weights as an alias's first route.

An alias such as ``flux-schnell`` reads "local engine when present, then Replicate, then fal":
when another engine offers a model serving the alias (:meth:`Engine.serving`: a local model
registered with ``mediastudio models pull <dir> --serves flux-schnell``, or a FLUX.1-schnell
folder, detected), :func:`local_routes` puts a ``local`` route before the alias's provider
routes, and the walk of :mod:`.routing` treats it as any other route.

The route runs through the serving engine's own interface (its ``run`` on a context of its
own, :class:`~mediastudio.engines.compose.StepContext`), so this engine never imports torch:
the local engine is another engine, found through the registry. A local failure that is not
the input's fault (out of memory, weights that fail to load, a crash) becomes a
:class:`LocalRouteFailed`, a :class:`ProviderError`, so the walk fails over to the providers;
invalid input, a content refusal and a cancel end the job as they would on a provider. The
outputs reach the job only when the local run succeeded (a half-made batch is dropped).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from mediastudio.engines.compose import StepContext
from mediastudio.engines.contract import (
    EngineError,
    InvalidInput,
    InvalidPrompt,
    JobCancelled,
    ProviderError,
    RunContext,
)
from mediastudio.engines.inputs import ImageInput
from mediastudio.engines.providers.replicate.mapping import FLUX_SIZES, flux_aspect
from mediastudio.engines.providers.routes import Build, ProviderModel, Route
from mediastudio.engines.registry import EngineRegistry, RegisteredModel

logger = logging.getLogger("mediastudio.providers")

LOCAL = "local"  # the routes' provider name, and the generation's ``provider`` when it served
WORKDIR = "route-local"
# FLUX.1 [schnell] is distilled for 1-4 steps without guidance (what Replicate's runs): a local
# route asks the same of the local pipeline unless options.num_inference_steps says otherwise.
FLUX_SCHNELL_STEPS = 4
FLUX_SCHNELL_MAX_STEPS = 4


class LocalRouteFailed(ProviderError):
    """The local route failed for a reason of its own: the next route takes over. The code is
    the local engine's (``out_of_memory``, ``engine_error``), as the attempt reports it."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def flux_schnell(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """``flux-schnell`` → a local image model's input: FLUX's size for the aspect ratio (what
    the alias's plan and the providers deliver), schnell's steps and no guidance."""
    assert isinstance(validated, ImageInput)
    width, height = FLUX_SIZES[flux_aspect(validated)]
    options = getattr(validated, "options", None) or {}
    steps = options.get("num_inference_steps")
    if not isinstance(steps, int) or not 1 <= steps <= FLUX_SCHNELL_MAX_STEPS:
        steps = FLUX_SCHNELL_STEPS
    return {
        "prompt": validated.prompt,
        "width": width,
        "height": height,
        "num_outputs": validated.num_outputs,
        "seed": validated.seed,
        "output_format": validated.output_format,
        "steps": steps,
        "guidance_scale": 0.0,
    }


# The aliases a local model may serve, and how their input becomes the local model's.
LOCAL_BUILDS: dict[str, Build] = {"flux-schnell": flux_schnell}


@dataclass(frozen=True)
class LocalRoutes:
    """The local routes of one alias for one job, and the models they run."""

    routes: tuple[Route, ...]
    models: dict[str, RegisteredModel]  # route name → the model it runs

    def model(self, route: Route) -> RegisteredModel:
        return self.models[route.name]


NONE = LocalRoutes((), {})


def local_routes(model: ProviderModel, registry: EngineRegistry | None) -> LocalRoutes:
    """The routes of the available models that serve ``model`` (an alias with a
    :data:`LOCAL_BUILDS` entry), in registration order; none for any other model."""
    build = LOCAL_BUILDS.get(model.spec.id)
    if build is None or registry is None:
        return NONE
    routes: list[Route] = []
    models: dict[str, RegisteredModel] = {}
    for served in registry.serving(model.spec.id):
        if served.spec.type != model.spec.type:
            continue  # a video model registered as serving an image alias
        if not registry.availability(served.spec.id).available:
            continue
        # local/<name> is the route's name too: the id that reaches this route alone.
        route = Route(LOCAL, served.spec.id.removeprefix(f"{LOCAL}/"), build)
        routes.append(route)
        models[route.name] = served
    return LocalRoutes(tuple(routes), models)


async def run_local(
    ctx: RunContext, route: Route, served: RegisteredModel, threads: Executor
) -> None:
    """One local attempt: the alias's input mapped to the model's, run by its engine in a
    context of its own (a blocking engine in one of ``threads``: the alias's jobs may wait
    there for the GPU, which must not tie up the loop's default executor); its outputs become
    the job's when it succeeds."""
    ctx.served_by(LOCAL)
    ctx.check_cancelled()
    spec = served.spec
    try:
        validated = spec.input_model.model_validate(route.build(ctx.input, {}))
    except ValidationError as exc:  # the mapping's shortfall, not the request's: fail over
        message = f"{route.name} cannot take this request: {exc}"
        raise LocalRouteFailed(message, "engine_error") from exc
    workdir = ctx.workdir / WORKDIR
    workdir.mkdir(parents=True, exist_ok=True)
    sub = StepContext(ctx, spec, validated, workdir, (0.0, 1.0))
    try:
        if inspect.iscoroutinefunction(served.engine.run):
            await served.engine.run(sub)
        else:
            # The engine's blocking run in a thread; it checks the job's cancel flag (shared
            # with this context) between steps, so a cancel or a timeout stops it there.
            await asyncio.get_running_loop().run_in_executor(threads, served.engine.run, sub)
    except (JobCancelled, InvalidInput, InvalidPrompt):
        raise  # the job's end: a cancel, or the request's own fault (no provider would differ)
    except EngineError as exc:
        raise LocalRouteFailed(f"{route.name}: {exc.message}", exc.code) from exc
    except Exception as exc:  # a crash of the local engine: the providers may still serve
        logger.exception("%s: the local route %s crashed", ctx.generation_id, route.name)
        raise LocalRouteFailed(f"{route.name} failed unexpectedly: {exc}", "engine_error") from exc
    if sub.failures or not sub.outputs:
        raise LocalRouteFailed(f"{route.name} produced no output.", "engine_error")
    for output in sub.outputs:
        ctx.add_output(output)
