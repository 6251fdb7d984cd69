"""The sandbox engine: placeholder media for ``ms_test_`` keys (see :mod:`.engine`)."""

from __future__ import annotations

from mediastudio.engines.registry import EngineRegistry
from mediastudio.engines.sandbox.engine import SandboxEngine
from mediastudio.settings import Settings


def register(registry: EngineRegistry, settings: Settings) -> None:
    registry.add(SandboxEngine())
