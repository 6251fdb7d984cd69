"""The local engine's video models on a tiny randomly initialised LTX-Video pipeline saved on
disk (tests/engines/tiny_diffusion.py), loaded through the real loading path and denoised on
the CPU: registration as a video kind, the MP4's frames, size and rate (decoded with PyAV),
progress per step, cancellation between steps, seeds, image to video, and the plan."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from mediastudio.engines.contract import JobCancelled
from mediastudio.engines.local import registrations
from mediastudio.engines.local.engine import LocalEngine
from mediastudio.engines.local.video_inputs import LocalVideoInput, frame_count, temporal_step
from tests.conftest import make_settings
from tests.engines.recorder import Recorder
from tests.engines.tiny_diffusion import (
    VIDEO_TIME_STEP,
    build_tiny_video_pipeline,
    require_local_extra,
)

MODEL = "local/tiny-ltx"
BASE = {"prompt": "a fox runs", "width": 64, "height": 32, "num_frames": 9, "steps": 2, "fps": 8}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_local_extra()
    return build_tiny_video_pipeline(tmp_path_factory.mktemp("weights") / "tiny-ltx")


@pytest.fixture(scope="module")
def engine(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalEngine:
    settings = make_settings(tmp_path_factory.mktemp("data"))
    registrations.register(settings.data_dir, tiny)
    return LocalEngine(settings)


def generate(
    engine: LocalEngine,
    tmp_path: Path,
    hook: Callable[[Recorder], None] = lambda ctx: None,
    **fields: Any,
) -> Recorder:
    [spec] = [spec for spec in engine.models() if spec.id == MODEL]
    ctx = Recorder(tmp_path, spec, LocalVideoInput.model_validate({**BASE, **fields}), hook)
    engine.run(ctx)
    return ctx


def decode(path: Path) -> tuple[list[np.ndarray[Any, np.dtype[np.uint8]]], Fraction | None]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, stream.average_rate


def test_a_video_pipeline_registers_as_a_video_model(engine: LocalEngine, tiny: Path) -> None:
    assert registrations.detect_kind(tiny) == (registrations.DIFFUSERS_VIDEO, "LTXPipeline")
    [spec] = engine.models()
    assert (spec.id, spec.type, spec.kind) == (MODEL, "video", "video")
    assert engine.resolve(MODEL, "video") is not None and engine.resolve(MODEL, "image") is None
    assert engine.availability(spec).available
    assert temporal_step(tiny) == VIDEO_TIME_STEP


def test_text_to_video_makes_an_mp4_of_the_frames_size_and_rate_with_progress_per_step(
    engine: LocalEngine, tmp_path: Path
) -> None:
    ctx = generate(engine, tmp_path, steps=3, seed=5)
    [output] = ctx.outputs
    assert output.content_type == "video/mp4" and (output.width, output.height) == (64, 32)
    assert output.extra == {"seed": 5} and output.duration_s == pytest.approx(9 / 8)
    frames, rate = decode(output.path)
    assert len(frames) == 9 and frames[0].shape == (32, 64, 3) and rate == 8
    steps = [round(report, 6) for report in ctx.reports]
    assert steps == [round(step / 3, 6) for step in (1, 2, 3)]


def test_the_same_seed_makes_the_same_video_and_another_does_not(
    engine: LocalEngine, tmp_path: Path
) -> None:
    first, again, other = (
        decode(generate(engine, tmp_path, seed=seed).outputs[0].path)[0] for seed in (9, 9, 10)
    )
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_a_cancel_stops_between_steps_and_writes_nothing(
    engine: LocalEngine, tmp_path: Path
) -> None:
    def cancel_after_first(ctx: Recorder) -> None:
        ctx.cancel("cancelled")

    with pytest.raises(JobCancelled):
        generate(engine, tmp_path, steps=50, hook=cancel_after_first)
    assert not list(tmp_path.rglob("*.mp4"))


def test_image_to_video_starts_from_the_first_frame(engine: LocalEngine, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (128, 64), (220, 40, 40)).save(buffer, format="PNG")
    source = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    ctx = generate(engine, tmp_path, first_frame_image=source, seed=2)
    frames, _ = decode(ctx.outputs[0].path)
    assert len(frames) == 9 and frames[0].shape == (32, 64, 3)


def test_the_plan_matches_the_run_and_frames_round_to_the_vae_time_step(
    engine: LocalEngine, tmp_path: Path
) -> None:
    validated = LocalVideoInput.model_validate({**BASE, "num_frames": 12, "seed": 1})
    assert frame_count(validated, VIDEO_TIME_STEP) == 9  # 4k + 1
    duration = LocalVideoInput.model_validate({"prompt": "x", "duration": 2, "fps": 8})
    assert frame_count(duration, 8) == 17  # 2 s x 8 fps + 1
    [spec] = engine.models()
    assert spec.plan is not None
    [planned] = spec.plan(validated, None)  # type: ignore[arg-type]
    ctx = generate(engine, tmp_path, num_frames=12, seed=1)
    [output] = ctx.outputs
    assert planned.content_type == output.content_type  # type: ignore[union-attr]
    assert (planned.width, planned.height) == (output.width, output.height)  # type: ignore[union-attr]
    assert planned.duration_s == output.duration_s  # type: ignore[union-attr]
    assert dict(planned.extra) == output.extra  # type: ignore[union-attr]
