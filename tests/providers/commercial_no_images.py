"""A server with no image model a live key can run (only the sandbox's): the fake engines
without their image models, and a commercial on them (``settings.engine_modules``)."""

from __future__ import annotations

from collections.abc import Sequence

from mediastudio.engines.builtin.compositions import CompositionsEngine
from mediastudio.engines.builtin.compositions.commercial import Commercial, StepModels
from mediastudio.engines.contract import ModelSpec
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings
from tests.fakes import FakeEngine


class NoImagesEngine(FakeEngine):
    def models(self) -> Sequence[ModelSpec]:
        return [spec for spec in super().models() if spec.type != "image"]


def register(registry: EngineRegistry, settings: Settings) -> None:
    registry.add(NoImagesEngine())
    steps = StepModels(speech="fake/speech", music="fake/music", video="fake/video")
    registry.add(CompositionsEngine(registry, [Commercial(steps, fps=12, short_side=160)]))
