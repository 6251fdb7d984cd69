"""The ``providers`` engine: models that run on hosted providers with the operator's keys.

It is an engine like the built-in ones: the catalog lists its models (unavailable, with the
reason, when no provider of theirs has a key), sandbox keys get the sandbox twin instead (the
runner never calls this engine for them), and a job runs as a coroutine that waits on the
network without holding a thread. A job walks its model's routes (:mod:`.routing`): each
attempt submits to (or resumes) one provider's job, polls it and copies its outputs in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from mediastudio.engines.contract import Availability, Engine, ModelSpec, RunContext
from mediastudio.engines.providers.catalog import CURATED, FAL, REPLICATE, resolve_generic
from mediastudio.engines.providers.fal import client as fal
from mediastudio.engines.providers.http import display_name
from mediastudio.engines.providers.jobs import Polling, RemoteJobs, pauser, run_remote
from mediastudio.engines.providers.media import Uploader, collect_outputs, input_reference
from mediastudio.engines.providers.replicate import client as replicate
from mediastudio.engines.providers.routes import ProviderModel, Route
from mediastudio.engines.providers.routing import plan, run_routes
from mediastudio.settings import ProviderSettings, Settings

KEY_SETTINGS = {REPLICATE: replicate.API_KEY_SETTING, FAL: fal.API_KEY_SETTING}


class Adapter(RemoteJobs, Uploader, Protocol):
    async def aclose(self) -> None: ...


class ProvidersEngine(Engine):
    name = "providers"

    def __init__(self, settings: Settings, adapters: Mapping[str, Adapter] | None = None) -> None:
        self._adapters = dict(adapters) if adapters is not None else _configured(settings)
        self._polling = {
            REPLICATE: _polling(settings.providers.replicate),
            FAL: _polling(settings.providers.fal),
        }
        self._curated = {model.spec.id: model for model in CURATED}

    def models(self) -> Sequence[ModelSpec]:
        return [model.spec for model in CURATED]

    def resolve(self, model_id: str, type_: str | None) -> ModelSpec | None:
        found = resolve_generic(model_id, type_)
        return found.spec if found is not None else None

    def availability(self, model: ModelSpec) -> Availability:
        providers = self._model(model).providers
        if any(name in self._adapters for name in providers):
            return Availability.ok()
        settings = " or ".join(KEY_SETTINGS[name] for name in providers)
        names = " or ".join(display_name(name) for name in providers)
        return Availability.missing(f"no {names} API key on this server: set {settings}")

    async def run(self, ctx: RunContext) -> None:
        routes = plan(self._model(ctx.model), ctx.input, self._adapters, KEY_SETTINGS)
        await run_routes(ctx, routes, lambda route: self._attempt(ctx, route))

    async def _attempt(self, ctx: RunContext, route: Route) -> None:
        """One route: submit (or resume) the provider's job, wait for it, copy its outputs."""
        adapter = self._adapters[route.provider]
        job = await run_remote(
            ctx,
            adapter,
            route.target,
            lambda: _payload(ctx, route, adapter),
            self._polling[route.provider],
        )
        await collect_outputs(ctx, adapter.name, job.outputs)

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()

    def _model(self, spec: ModelSpec) -> ProviderModel:
        model = self._curated.get(spec.id) or resolve_generic(spec.id, spec.type)
        if model is None:
            raise ValueError(f"{spec.id!r} is not a provider model")
        return model


async def _payload(ctx: RunContext, route: Route, adapter: Adapter) -> dict[str, object]:
    """The provider's input: media sent along (see :mod:`.media`), then the route's mapping."""
    pause = pauser(ctx)
    media: dict[str, str] = {}
    for field in route.media:
        reference = getattr(ctx.input, field, None)
        if isinstance(reference, str):
            media[field] = await input_reference(ctx, reference, adapter, pause)
    return route.build(ctx.input, media)


def _configured(settings: Settings) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    if settings.providers.replicate.api_key is not None:
        adapters[REPLICATE] = replicate.Replicate(settings.providers.replicate)
    if settings.providers.fal.api_key is not None:
        adapters[FAL] = fal.Fal(settings.providers.fal)
    return adapters


def _polling(provider: ProviderSettings) -> Polling:
    return Polling(
        first=provider.poll_interval_s,
        longest=max(provider.poll_interval_s, provider.poll_max_interval_s),
        queue_timeout_s=provider.queue_timeout_s,
    )
