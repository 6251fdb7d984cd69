"""The ``video-tools`` engine: image to video, subtitles, social variants and dubbing, each in
its own module (its input model, :class:`ModelSpec` and ``run``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mediastudio.engines.builtin.video_tools import dubbing, image_to_video, social, subtitles
from mediastudio.engines.contract import Availability, Engine, EngineError, ModelSpec, RunContext
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings

# A tool's run: the job, and the registry for the models it runs as steps (subtitles' captions).
Tool = Callable[[RunContext, EngineRegistry | None], None]

_TOOLS: dict[str, tuple[ModelSpec, Tool]] = {
    image_to_video.SPEC.id: (image_to_video.SPEC, lambda ctx, _: image_to_video.run(ctx)),
    subtitles.SPEC.id: (subtitles.SPEC, subtitles.run),
    social.SPEC.id: (social.SPEC, lambda ctx, _: social.run(ctx)),
    dubbing.SPEC.id: (dubbing.SPEC, dubbing.run),
}


class VideoToolsEngine(Engine):
    name = "video-tools"

    def __init__(self, registry: EngineRegistry | None = None) -> None:
        self.registry = registry

    def models(self) -> Sequence[ModelSpec]:
        return [spec for spec, _ in _TOOLS.values()]

    def availability(self, model: ModelSpec) -> Availability:
        # Dubbing always runs provider steps: it can run where each of them can.
        if model.id == dubbing.SPEC.id and self.registry is not None:
            return dubbing.availability(self.registry)
        return Availability.ok()

    def run(self, ctx: RunContext) -> None:
        tool = _TOOLS.get(ctx.model.id)
        if tool is None:
            raise EngineError(f"video-tools does not serve {ctx.model.id}.")
        tool[1](ctx, self.registry)


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    return VideoToolsEngine(registry)
