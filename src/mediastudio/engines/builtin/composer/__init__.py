"""The built-in music engine: algorithmic composition (theory, style, form, arrange) and
synthesis (synth, drums, render, mix). See docs/engines/composer.md."""

from __future__ import annotations

from mediastudio.engines.builtin.composer.engine import ComposerEngine
from mediastudio.engines.contract import Engine
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    return ComposerEngine()
