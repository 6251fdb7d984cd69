"""``builtin/espeak``: speech from espeak-ng (the ``espeakng-loader`` wheel), no system package.

:mod:`.library` binds the C library (one per process, under one lock), :mod:`.voices` names its
voices, :mod:`.text` cuts text into sentences, :mod:`.inputs` validates requests against the
voice list, :mod:`.engine` speaks a job.
"""

from __future__ import annotations

from mediastudio.engines.builtin.espeak.engine import EspeakEngine
from mediastudio.engines.contract import Engine
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    return EspeakEngine()
