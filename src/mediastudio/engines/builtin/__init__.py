"""The built-in engines: real media with no weights and no network, served by a fresh install.

Each module listed in :data:`ENGINE_MODULES` exposes ``engine(settings, registry) -> Engine``;
compositions receive the registry so they can run other engines' models as steps.
"""

from __future__ import annotations

import importlib

from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings

ENGINE_MODULES: list[str] = [
    "mediastudio.engines.builtin.espeak",
    "mediastudio.engines.builtin.composer",
    "mediastudio.engines.builtin.image_tools",
    "mediastudio.engines.builtin.templates",
    "mediastudio.engines.builtin.video_tools.engine",
    "mediastudio.engines.builtin.video_tools.autoclip",
    "mediastudio.engines.builtin.compositions",
]


def register(registry: EngineRegistry, settings: Settings) -> None:
    for module_name in ENGINE_MODULES:
        module = importlib.import_module(module_name)
        registry.add(module.engine(settings, registry))
