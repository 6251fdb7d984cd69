"""The image tools: background removal, upscaling, filters and styles, product photo presets.

:mod:`.ops` holds the image operations (no job context); :mod:`.engine` the engine.
"""

from mediastudio.engines.builtin.image_tools.engine import engine

__all__ = ["engine"]
