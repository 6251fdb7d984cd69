"""Local model engines (``pip install 'mediastudio[local]'``): see docs/local-models.md.

Registered through the ``mediastudio.engines`` entry point like any engine. Importing this
package imports neither torch nor diffusers.
"""

from __future__ import annotations

from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings


def register(registry: EngineRegistry, settings: Settings) -> None:
    from mediastudio.engines.local.engine import LocalEngine

    registry.add(LocalEngine(settings))
