"""The sandbox engine through the engine contract: real, decodable media of the requested shape."""

from __future__ import annotations

import io
import threading
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel

from mediastudio.engines.contract import JobCancelled, ModelSpec, ProviderError
from mediastudio.engines.inputs import ImageInput, MusicInput, SpeechInput, VideoInput
from mediastudio.engines.sandbox.engine import SandboxEngine
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher

ENGINE = SandboxEngine()
SPECS = {spec.type: spec for spec in ENGINE.models()}


def context(tmp_path: Path, spec: ModelSpec, validated: BaseModel) -> JobContext:
    return JobContext(
        generation_id="gen_test",
        model=spec,
        input=validated,
        sandbox=True,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
    )


def run(tmp_path: Path, type_: str, validated: BaseModel) -> JobContext:
    ctx = context(tmp_path, SPECS[type_], validated)
    ENGINE.run(ctx)
    return ctx


@pytest.mark.parametrize(("fmt", "pil"), [("png", "PNG"), ("webp", "WEBP"), ("jpg", "JPEG")])
def test_images_have_the_requested_format_size_and_count(
    tmp_path: Path, fmt: str, pil: str
) -> None:
    validated = ImageInput(prompt="cat", width=300, height=260, output_format=fmt, num_outputs=2)
    ctx = run(tmp_path, "image", validated)
    assert len(ctx.outputs) == 2 and ctx.percent == 100
    images = [Image.open(output.path) for output in ctx.outputs]
    assert all(image.format == pil and image.size == (300, 260) for image in images)
    first, second = (np.asarray(image.convert("RGB"), dtype=np.int16) for image in images)
    assert np.abs(first - second).mean() > 5  # each output differs


def test_images_are_deterministic_for_the_same_input(tmp_path: Path) -> None:
    validated = ImageInput(prompt="same", output_format="png", seed=7)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    one, two = run(first, "image", validated), run(second, "image", validated)
    assert one.outputs[0].path.read_bytes() == two.outputs[0].path.read_bytes()


def decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        return np.concatenate(chunks).astype(np.float64), stream.rate


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_speech_is_audible_and_roughly_as_long_as_the_text(tmp_path: Path, fmt: str) -> None:
    text = "one two three four five six seven eight nine ten"  # 10 words at 2.5 words/s
    ctx = run(tmp_path, "speech", SpeechInput(text=text, output_format=fmt))
    output = ctx.outputs[0]
    assert output.duration_s == 4.0
    samples, rate = decoded_audio(output.path)
    assert abs(len(samples) / rate - 4.0) < 0.1
    peak = np.abs(samples).max()
    scale = 32768.0 if fmt == "wav" else 1.0
    assert 0.05 < peak / scale < 0.99  # audible, not clipped
    if fmt == "wav":
        with wave.open(str(output.path)) as handle:
            assert handle.getnchannels() == 1 and handle.getsampwidth() == 2


def test_music_has_the_requested_length(tmp_path: Path) -> None:
    ctx = run(tmp_path, "music", MusicInput(prompt="calm", duration=6, output_format="mp3"))
    samples, rate = decoded_audio(ctx.outputs[0].path)
    assert abs(len(samples) / rate - 6) < 0.1


def test_video_is_h264_aac_with_the_requested_shape_and_length(tmp_path: Path) -> None:
    validated = VideoInput(prompt="waves", duration=2, aspect_ratio="9:16", fps=12)
    ctx = run(tmp_path, "video", validated)
    output = ctx.outputs[0]
    assert (output.width, output.height, output.duration_s) == (360, 640, 2.0)
    with av.open(str(output.path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video)]
    assert len(frames) == 24
    assert frames[0].shape == (640, 360, 3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1  # it moves


def test_magic_failure_and_partial_outputs(tmp_path: Path) -> None:
    with pytest.raises(ProviderError):
        run(tmp_path, "image", ImageInput(prompt="x [fail:provider_error]"))
    ctx = run(tmp_path, "image", ImageInput(prompt="[partial]", num_outputs=3))
    assert len(ctx.outputs) == 1 and len(ctx.failures) == 2


def test_cancellation_stops_the_engine_and_leaves_no_file(tmp_path: Path) -> None:
    ctx = context(tmp_path, SPECS["video"], VideoInput(prompt="[slow:20]", duration=10))
    threading.Timer(0.3, ctx.cancel, args=("cancelled",)).start()
    with pytest.raises(JobCancelled):
        ENGINE.run(ctx)
    assert ctx.outputs == []
    assert list(tmp_path.iterdir()) == []


def test_cancellation_mid_encode_leaves_no_partial_file(tmp_path: Path) -> None:
    ctx = context(tmp_path, SPECS["video"], VideoInput(prompt="long", duration=10, fps=60))
    calls = {"n": 0}
    original = ctx.check_cancelled

    def cancel_after_a_few() -> None:
        calls["n"] += 1
        if calls["n"] == 20:
            ctx.cancel("cancelled")
        original()

    ctx.check_cancelled = cancel_after_a_few  # type: ignore[method-assign]
    with pytest.raises(JobCancelled):
        ENGINE.run(ctx)
    assert list(tmp_path.iterdir()) == []


def test_images_open_from_bytes(tmp_path: Path) -> None:
    ctx = run(tmp_path, "image", ImageInput(prompt="x", output_format="webp"))
    assert Image.open(io.BytesIO(ctx.outputs[0].path.read_bytes())).format == "WEBP"
