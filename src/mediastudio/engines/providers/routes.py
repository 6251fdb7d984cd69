"""A provider-backed model and its routes: which provider model serves it, and how our input
becomes that model's input.

A model (``prunaai/z-image-turbo``, or an alias such as ``flux-schnell``) holds an *ordered*
list of routes across providers; :mod:`.routing` walks it, failing over from one route to the
next when a provider fails (5xx, timeout, connection error, rate limit — never invalid input or
a content-policy refusal): see docs/providers.md. A route can also be conditional: Hailuo 2.3
Fast only animates an image, so a text-only request takes its text-to-video sibling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from mediastudio.engines.contract import ModelSpec

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
