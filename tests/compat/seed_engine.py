"""A test engine serving an image model named as seed 001's documentation names one
(``flux-2-pro``), so the seed's example request runs as it is written."""

from __future__ import annotations

from collections.abc import Sequence

from mediastudio.engines.contract import ModelSpec
from mediastudio.engines.inputs import ImageInput
from mediastudio.engines.registry import EngineRegistry
from mediastudio.engines.sandbox.engine import SandboxEngine
from mediastudio.settings import Settings

FLUX_CREDITS = 10  # seed 001's price of an image


class SeedEngine(SandboxEngine):
    name = "seedfake"

    def models(self) -> Sequence[ModelSpec]:
        return [
            ModelSpec(
                "seedfake/flux-2-pro", "Seed 001's flux-2-pro", "image", ImageInput, FLUX_CREDITS
            )
        ]


def register(registry: EngineRegistry, settings: Settings) -> None:
    registry.add(SeedEngine())
