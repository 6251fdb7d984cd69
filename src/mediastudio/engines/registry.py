"""The engine registry: built once at start-up from the ``mediastudio.engines`` entry points.

Built-in engines register through the same entry-point group as third-party packages (a package
adds an engine with ``[project.entry-points."mediastudio.engines"] name = "pkg:register"``).
``settings.engine_modules`` loads extra ``register`` functions from plain modules, and
``settings.disabled_engines`` keeps named entry points from loading.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points

from mediastudio.engines.contract import Availability, Engine, ModelSpec
from mediastudio.settings import Settings

logger = logging.getLogger("mediastudio.engines")

ENTRY_POINT_GROUP = "mediastudio.engines"
SANDBOX_ENGINE = "sandbox"

Register = Callable[["EngineRegistry", Settings], None]


@dataclass(frozen=True)
class RegisteredModel:
    spec: ModelSpec
    engine: Engine


class EngineRegistry:
    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._models: dict[str, RegisteredModel] = {}
        self._availability: dict[str, Availability] = {}

    def add(self, engine: Engine) -> None:
        if engine.name in self._engines:
            raise ValueError(f"engine {engine.name!r} is registered twice")
        self._engines[engine.name] = engine
        for spec in engine.models():
            if spec.id in self._models:
                raise ValueError(f"model {spec.id!r} is declared by two engines")
            self._models[spec.id] = RegisteredModel(spec, engine)

    @property
    def sandbox(self) -> Engine | None:
        """The engine that runs every model for sandbox (``ms_test_``) keys."""
        return self._engines.get(SANDBOX_ENGINE)

    def get(self, model_id: str, type_: str | None = None) -> RegisteredModel | None:
        """The model with this id: a listed one, else one an engine serves by pattern (see
        :meth:`Engine.resolve`), made for ``type_`` (the request's type, when it has one)."""
        registered = self._models.get(model_id)
        if registered is not None:
            return registered
        for engine in self._engines.values():
            spec = engine.resolve(model_id, type_)
            if spec is not None:
                return RegisteredModel(spec, engine)
        return None

    def serving(self, alias: str) -> list[RegisteredModel]:
        """The models other engines offer to serve ``alias`` first (see :meth:`Engine.serving`),
        asked on each call: a model registered while the server runs serves at once."""
        return [
            RegisteredModel(spec, engine)
            for engine in self._engines.values()
            for spec in engine.serving(alias)
        ]

    def models(self, type_: str | None = None) -> list[ModelSpec]:
        return [m.spec for m in self._models.values() if type_ is None or m.spec.type == type_]

    def availability(self, model_id: str) -> Availability:
        """Whether a live key can run this model; computed once per listed model, then cached
        (models served by pattern are asked each time: their ids are the users' to invent)."""
        cached = self._availability.get(model_id)
        if cached is None:
            registered = self.get(model_id)
            if registered is None:
                return Availability.missing(f"no engine serves {model_id!r}")
            try:
                cached = registered.engine.availability(registered.spec)
            except Exception as exc:  # an engine's probe must not take the catalog down
                logger.exception("availability check of %s failed", model_id)
                cached = Availability.missing(f"the engine's availability check failed: {exc}")
            if model_id in self._models:
                self._availability[model_id] = cached
        return cached

    async def aclose(self) -> None:
        """Let every engine release what it holds open; one failing does not stop the rest."""
        for engine in self._engines.values():
            try:
                await engine.aclose()
            except Exception:
                logger.exception("engine %s failed to close", engine.name)

    @classmethod
    def discover(cls, settings: Settings) -> EngineRegistry:
        registry = cls()
        for register in _registrars(settings):
            register(registry, settings)
        return registry


def _registrars(settings: Settings) -> Iterable[Register]:
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry_point.name in settings.disabled_engines:
            logger.info("engine %s disabled by settings", entry_point.name)
            continue
        yield entry_point.load()
    for module_name in settings.engine_modules:
        module = importlib.import_module(module_name)
        yield module.register
