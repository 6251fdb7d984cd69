"""The ``video-tools`` engine: image to video, subtitles and social variants, each in its own
module (its input model, :class:`ModelSpec` and ``run``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mediastudio.engines.builtin.video_tools import image_to_video, social, subtitles
from mediastudio.engines.contract import Engine, EngineError, ModelSpec, RunContext
from mediastudio.engines.registry import EngineRegistry
from mediastudio.settings import Settings

_TOOLS: dict[str, tuple[ModelSpec, Callable[[RunContext], None]]] = {
    module.SPEC.id: (module.SPEC, module.run) for module in (image_to_video, subtitles, social)
}


class VideoToolsEngine(Engine):
    name = "video-tools"

    def models(self) -> Sequence[ModelSpec]:
        return [spec for spec, _ in _TOOLS.values()]

    def run(self, ctx: RunContext) -> None:
        tool = _TOOLS.get(ctx.model.id)
        if tool is None:
            raise EngineError(f"video-tools does not serve {ctx.model.id}.")
        tool[1](ctx)


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    return VideoToolsEngine()
