"""The ``compositions`` engine: models made of other models' steps (a commercial today; an
instant ad, b-roll from stills or a slideshow are each one more small module beside it).

A composition is an object with a ``spec`` (its :class:`ModelSpec`), ``step_models()`` (the
model ids it runs, so it is unavailable until they are) and ``run(ctx, registry)``, which uses
:class:`~mediastudio.engines.compose.Composition` to run the steps. Shared pieces live beside
them: :mod:`.mixing` (voice over a ducked music bed), :mod:`.assembly` (stills, image-to-video
shots, the crossfaded timeline, the MP4), :mod:`.cues` (captions timed to speech).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mediastudio.engines.contract import Availability, Engine, ModelSpec, RunContext
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings


class Recipe(Protocol):
    spec: ModelSpec

    def step_models(self) -> Sequence[str]: ...

    def run(self, ctx: RunContext, registry: EngineRegistry) -> None: ...


class CompositionsEngine(Engine):
    name = "compositions"

    def __init__(self, registry: EngineRegistry, recipes: Sequence[Recipe]) -> None:
        self.registry = registry
        self.recipes = {recipe.spec.id: recipe for recipe in recipes}

    def models(self) -> Sequence[ModelSpec]:
        return [recipe.spec for recipe in self.recipes.values()]

    def availability(self, model: ModelSpec) -> Availability:
        for step_model in self.recipes[model.id].step_models():
            if self.registry.get(step_model) is None:
                return Availability.missing(f"it needs the model {step_model}, not installed")
            if not self.registry.availability(step_model).available:
                return Availability.missing(f"it needs the model {step_model}, unavailable")
        return Availability.ok()

    def run(self, ctx: RunContext) -> None:
        self.recipes[ctx.model.id].run(ctx, self.registry)


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    from mediastudio.engines.builtin.compositions.commercial import Commercial

    return CompositionsEngine(registry, [Commercial()])
