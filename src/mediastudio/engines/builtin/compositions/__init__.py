"""The ``compositions`` engine: models made of other models' steps (a commercial, a script
made into a narrated video, an instant ad from a product page; a slideshow would be one more
small module beside them).

A composition is an object with a ``spec`` (its :class:`ModelSpec`), ``step_models()`` (the
model ids it runs, so it is unavailable until they are; a composition whose step models are
chosen per request also has an ``availability()`` of its own) and ``run(ctx, registry)``, which uses
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
        recipe = self.recipes[model.id]
        own = getattr(recipe, "availability", None)
        if own is not None:
            found: Availability = own()
            if not found.available:
                return found
        for step_model in recipe.step_models():
            if self.registry.get(step_model) is None:
                return Availability.missing(f"it needs the model {step_model}, not installed")
            if not self.registry.availability(step_model).available:
                return Availability.missing(f"it needs the model {step_model}, unavailable")
        return Availability.ok()

    def run(self, ctx: RunContext) -> None:
        self.recipes[ctx.model.id].run(ctx, self.registry)


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    from mediastudio.engines.builtin.compositions.chat_script import ScriptWriter
    from mediastudio.engines.builtin.compositions.commercial import Commercial
    from mediastudio.engines.builtin.compositions.instant_ad import InstantAd
    from mediastudio.engines.builtin.compositions.script_video import ScriptVideo

    commercial = Commercial(writer=ScriptWriter.configured(settings))
    return CompositionsEngine(registry, [commercial, ScriptVideo(registry), InstantAd()])
