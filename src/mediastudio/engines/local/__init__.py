"""Local model engines (``pip install 'mediastudio[local]'``): see docs/local-models.md.

Registered through the ``mediastudio.engines`` entry point like any engine. Importing this
package imports neither torch nor diffusers, nor piper and onnxruntime.
"""

from __future__ import annotations

from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings


def register(registry: EngineRegistry, settings: Settings) -> None:
    from mediastudio.engines.local.engine import LocalEngine
    from mediastudio.engines.local.piper import PiperEngine

    registry.add(LocalEngine(settings))
    registry.add(PiperEngine(settings))
