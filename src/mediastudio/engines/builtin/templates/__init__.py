"""Templates: declarative image and video designs (spec.py) filled with the caller's data and
rendered with Pillow and PyAV (render.py); the engine is in :mod:`.engine`."""

from mediastudio.engines.builtin.templates.engine import engine

__all__ = ["engine"]
