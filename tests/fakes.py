"""Live engines for tests, loaded through the real plugin path (``settings.engine_modules``).

They reuse the sandbox engine's media and magic prompts (``[fail:…]``, ``[slow:N]``,
``[partial]``, ``[crash]``) but serve priced ``fake/*`` models under live keys, so tests can drive
credits, failures, refunds, cancellation and timeouts end to end.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from mediastudio.engines.contract import Availability, ModelSpec, OutputFile, RunContext
from mediastudio.engines.inputs import ImageInput, MusicInput, SpeechInput, VideoInput
from mediastudio.engines.registry import EngineRegistry
from mediastudio.engines.sandbox.engine import SandboxEngine
from mediastudio.settings import Settings

IMAGE_CREDITS = 5  # per output
SPEECH_CREDITS = 3
VIDEO_CREDITS = 2  # per second
MUSIC_CREDITS = 4


class EchoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="Fetched through the SSRF-safe fetcher")


class BigOutputInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mebibytes: int = Field(ge=1, le=64, description="Size of the output file")


BIG_OUTPUT_CREDITS = 7
_MIB = b"\0" * (1024 * 1024)


def write_big_output(ctx: RunContext) -> None:
    """Writes a file of the requested size straight into the work directory (no atomic rename):
    a disk that fills part way leaves the partial file for the runner to clean up."""
    assert isinstance(ctx.input, BigOutputInput)
    path = ctx.output_path(".bin")
    with path.open("wb") as handle:
        for _ in range(ctx.input.mebibytes):
            handle.write(_MIB)
    ctx.add_output(OutputFile(path, "application/octet-stream"))


class FakeEngine(SandboxEngine):
    name = "fake"

    def models(self) -> Sequence[ModelSpec]:
        return [
            ModelSpec(
                "fake/image", "Fake image", "image", ImageInput, IMAGE_CREDITS, price_unit="output"
            ),
            ModelSpec(
                "fake/video", "Fake video", "video", VideoInput, VIDEO_CREDITS, price_unit="second"
            ),
            ModelSpec("fake/speech", "Fake speech", "speech", SpeechInput, SPEECH_CREDITS),
            ModelSpec("fake/music", "Fake music", "music", MusicInput, MUSIC_CREDITS),
            ModelSpec("fake/quick-timeout", "Times out", "image", ImageInput, 1, timeout_s=0.5),
            ModelSpec("fake/needs-weights", "Unavailable", "image", ImageInput, 1),
            ModelSpec("fake/echo", "Echo an input URL", "image", EchoInput, 1),
            ModelSpec(
                "fake/big-output", "A large file", "image", BigOutputInput, BIG_OUTPUT_CREDITS
            ),
        ]

    def run(self, ctx: RunContext) -> None:
        if ctx.model.id == "fake/big-output":
            write_big_output(ctx)
            return
        if ctx.model.id != "fake/echo":
            super().run(ctx)
            return
        assert isinstance(ctx.input, EchoInput)
        fetched = ctx.fetcher.fetch(ctx.input.url)
        ctx.add_output(OutputFile(fetched, "application/octet-stream"))

    def availability(self, model: ModelSpec) -> Availability:
        if model.id == "fake/needs-weights":
            return Availability.missing("set MEDIASTUDIO_FAKE_WEIGHTS to a weights folder")
        return Availability.ok()


def register(registry: EngineRegistry, settings: Settings) -> None:
    registry.add(FakeEngine())
