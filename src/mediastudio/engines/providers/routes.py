"""A provider-backed model and its routes: which provider model serves it, and how our input
becomes that model's input.

A model (``prunaai/z-image-turbo``, or an alias such as ``flux-schnell``) holds an *ordered*
list of routes across providers; :mod:`.routing` walks it, failing over from one route to the
next when a provider fails (5xx, timeout, connection error, rate limit — never invalid input or
a content-policy refusal): see docs/providers/routing.md. A route can also be conditional:
Hailuo 2.3 Fast only animates an image, so a text-only request takes its text-to-video sibling.

Each route also says what its provider model hands back (``plan``): the model's output plan,
the sandbox's twin, is that of the route the input takes (see :func:`provider_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from mediastudio.engines.contract import InputFetcher, ModelSpec, OutputPlanner, Planned

# (validated input, media fields already made readable by the provider) → the provider's input
Build = Callable[[BaseModel, Mapping[str, str]], dict[str, Any]]


def always(validated: BaseModel) -> bool:
    return True


@dataclass(frozen=True)
class Route:
    provider: str  # the adapter that speaks to it: "replicate", "fal"
    target: str  # the provider's own model id
    build: Build
    when: Callable[[BaseModel], bool] = always
    media: tuple[str, ...] = ()  # input fields naming media the provider must be sent
    plan: OutputPlanner | None = None  # what the provider's model hands back for an input

    @property
    def name(self) -> str:
        """``<provider>/<target>``: also the generic model id that reaches this route alone."""
        return f"{self.provider}/{self.target}"


@dataclass(frozen=True)
class ProviderModel:
    spec: ModelSpec
    routes: tuple[Route, ...]

    @property
    def providers(self) -> list[str]:
        return list(dict.fromkeys(route.provider for route in self.routes))

    def with_routes(self, more: tuple[Route, ...]) -> ProviderModel:
        """The same model with ``more`` routes after its own (tried when those fail)."""
        return replace(self, routes=self.routes + more)


def provider_model(spec: ModelSpec, *routes: Route) -> ProviderModel:
    """A model served by ``routes``. When every route declares its plan, the model's plan is
    that of the first route that takes the input, whichever provider is configured (a sandbox
    job has none; routes a failover may move between are alternatives of the same shapes)."""
    if any(route.plan is None for route in routes):
        return ProviderModel(spec, routes)
    return ProviderModel(replace(spec, plan=_routed_plan(routes)), routes)


def _routed_plan(routes: tuple[Route, ...]) -> OutputPlanner:
    def plan(validated: BaseModel, fetcher: InputFetcher) -> Sequence[Planned]:
        for route in routes:
            if route.plan is not None and route.when(validated):
                return route.plan(validated, fetcher)
        raise ValueError("no route of this model takes the input")

    return plan
