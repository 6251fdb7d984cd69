"""Hosted providers as engines: :mod:`.engine` (the engine), :mod:`.catalog` (models and their
routes), :mod:`.jobs` (submit, resume, poll, cancel), :mod:`.http` (the shared HTTP layer),
:mod:`.media` (inputs sent, outputs copied in), and one package per provider
(:mod:`.replicate`, :mod:`.fal`, :mod:`.openai`).
See docs/providers.md."""

from __future__ import annotations

from mediastudio.engines.providers.engine import ProvidersEngine
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings


def register(registry: EngineRegistry, settings: Settings) -> None:
    registry.add(ProvidersEngine(settings, registry=registry))
