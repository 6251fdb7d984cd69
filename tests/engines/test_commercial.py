"""builtin/commercial, run on the fake engines' steps: the MP4 as media, captions, progress,
cancellation, failures; the script templates."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import ValidationError

from mediastudio.engines.builtin.compositions import CompositionsEngine, assembly
from mediastudio.engines.builtin.compositions.commercial import Commercial, StepModels
from mediastudio.engines.builtin.compositions.cues import caption_overlay, sentence_cues
from mediastudio.engines.builtin.compositions.script import TONES, word_budget, write_script
from mediastudio.engines.compose import StepFailed
from mediastudio.engines.contract import InvalidInput, JobCancelled
from mediastudio.engines.inputs import CommercialInput
from mediastudio.engines.media.audio import read_audio
from mediastudio.engines.media.video import iter_frames, probe
from mediastudio.engines.registry import EngineRegistry
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher
from tests.conftest import make_settings

FAKE_STEPS = StepModels(speech="fake/speech", music="fake/music", video="fake/video")
SHORT_SIDE = 160
FPS = 12


def product_image(width: int = 240, height: int = 180) -> str:
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).ellipse((60, 30, 180, 150), fill=(220, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def commercial_input(**overrides: Any) -> CommercialInput:
    values: dict[str, Any] = {
        "product": "Acme Rocket Shoes",
        "platform": "tiktok",
        "duration": 15,
        "tone": "energetic",
        "product_images": [product_image()],
    }
    values.update(overrides)
    return CommercialInput(**values)


class RecordingContext(JobContext):
    """Records every progress report; cancels itself once progress passes ``cancel_at``."""

    def __init__(self, *args: Any, cancel_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reports: list[float] = []
        self.cancel_at = cancel_at

    def progress(self, fraction: float) -> None:
        self.reports.append(fraction)
        super().progress(fraction)
        if self.cancel_at is not None and fraction >= self.cancel_at:
            self.cancel("user")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> EngineRegistry:
    return EngineRegistry.discover(make_settings(tmp_path_factory.mktemp("data")))


def run(
    tmp_path: Path,
    registry: EngineRegistry,
    job: CommercialInput,
    *,
    cancel_at: float | None = None,
) -> RecordingContext:
    composition = Commercial(FAKE_STEPS, fps=FPS, short_side=SHORT_SIDE)
    ctx = RecordingContext(
        generation_id="gen_commercial",
        model=composition.spec,
        input=job,
        sandbox=False,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
        cancel_at=cancel_at,
    )
    CompositionsEngine(registry, [composition]).run(ctx)
    return ctx


@pytest.mark.parametrize(
    ("platform", "size"),
    [
        ("tiktok", (160, 284)),
        ("youtube", (284, 160)),
        ("instagram", (160, 200)),
        ("tv", (284, 160)),
    ],
)
def test_each_platform_gets_one_mp4_of_its_shape_and_length_with_sound(
    tmp_path: Path, registry: EngineRegistry, platform: str, size: tuple[int, int]
) -> None:
    ctx = run(tmp_path, registry, commercial_input(platform=platform))
    [output] = ctx.outputs
    assert output.content_type == "video/mp4"
    assert (output.width, output.height) == size
    info = probe(output.path)
    assert (info.width, info.height) == size and info.has_audio
    assert abs(info.duration_s - 15) <= 0.5 and abs(float(output.duration_s or 0) - 15) <= 0.5
    with av.open(str(output.path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
    audio = read_audio(output.path, rate=16_000)
    assert abs(len(audio) / 16_000 - 15) <= 0.5
    assert float(np.sqrt(np.mean(audio**2))) > 0.01  # not silence
    assert output.extra["platform"] == platform
    assert output.extra["aspect_ratio"] == commercial_input(platform=platform).aspect_ratio
    # Progress only ever rises, finely, to 100.
    assert ctx.reports == sorted(ctx.reports) and len(set(ctx.reports)) > 20
    assert ctx.reports[-1] == 1.0 and ctx.percent == 100


def test_a_given_script_is_captioned_while_it_is_spoken_and_not_after(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    script = "Rockets on your feet. Run faster than ever before. Get yours today!"
    job = commercial_input(script=script, product_images=[product_image()] * 4)
    [output] = run(tmp_path, registry, job).outputs
    assert output.extra["script"] == script
    assert len(output.extra["scenes"]) == 4  # one shot per image
    cues = output.extra["captions"]
    assert cues and all(cue["end_s"] <= 15 - 0.8 for cue in cues)
    assert " ".join(cue["text"] for cue in cues) == script
    middles = [(cue["start_s"] + cue["end_s"]) / 2 for cue in cues]
    last_word = cues[-1]["end_s"]
    frames = {round(t * FPS): frame for t, frame in iter_frames(output.path)}

    def caption_pixels(seconds: float) -> int:
        frame = frames[round(seconds * FPS)]
        band = frame[int(frame.shape[0] * 0.55) : int(frame.shape[0] * 0.85)].astype(int)
        return int(((band.min(axis=2) > 190).sum() > 20) and (band.max(axis=2) < 70).sum())

    assert all(caption_pixels(t) > 500 for t in middles)  # white text on a dark box
    assert caption_pixels((last_word + 15) / 2) == 0


def test_captions_follow_the_spoken_sentences() -> None:
    cues = sentence_cues(
        ["Say hello to Acme Rocket Shoes today!", "Buy now."], [(0.5, 2.5), (3.0, 3.6)]
    )
    assert [cue.text for cue in cues] == ["Say hello to Acme", "Rocket Shoes today!", "Buy now."]
    assert cues[0].start == 0.5 and cues[1].end == 2.5 and cues[1].start == cues[0].end
    assert (cues[2].start, cues[2].end) == (3.0, 3.6)


def test_the_caption_overlay_draws_only_during_its_cue() -> None:
    cues = sentence_cues(["Hello there"], [(1.0, 2.0)])
    draw = caption_overlay(cues, 160, 284)
    frame = np.full((284, 160, 3), 128, np.uint8)
    assert draw(frame, 0.5) is frame
    drawn = draw(frame, 1.5)
    assert drawn.shape == frame.shape and (drawn != frame).any() and (frame == 128).all()


@pytest.mark.parametrize("cancel_at", [0.4, 0.9])
def test_cancellation_stops_it_midway_with_no_output(
    tmp_path: Path, registry: EngineRegistry, cancel_at: float
) -> None:
    with pytest.raises(JobCancelled):
        run(tmp_path, registry, commercial_input(), cancel_at=cancel_at)
    assert not list(tmp_path.glob("out-*.mp4"))


def test_a_failing_step_fails_the_commercial_with_its_code(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    with pytest.raises(StepFailed) as failed:
        run(tmp_path, registry, commercial_input(script="[fail:provider_error] Buy it."))
    assert failed.value.code == "provider_error"


def test_a_bad_product_image_is_invalid_input_naming_it(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    not_an_image = "data:image/png;base64," + base64.b64encode(b"not a png").decode()
    with pytest.raises(InvalidInput, match=r"product_images\[1\]"):
        run(tmp_path, registry, commercial_input(product_images=[product_image(), not_an_image]))


def test_inputs_are_bounded() -> None:
    with pytest.raises(ValidationError, match="at most 45"):
        commercial_input(script="word " * 46)
    with pytest.raises(ValidationError):
        commercial_input(product_images=[])
    with pytest.raises(ValidationError):
        commercial_input(product_images=[product_image()] * 11)
    with pytest.raises(ValidationError):
        commercial_input(duration=20)
    assert commercial_input(platform="instagram").aspect_ratio == "4:5"


@pytest.mark.parametrize("tone", sorted(TONES))
def test_written_scripts_fit_the_duration_and_are_deterministic(tone: str) -> None:
    lengths = []
    for duration in (15, 30, 60):
        script = write_script("Acme Rocket Shoes", tone, duration, audience="runners")
        assert script == write_script("Acme Rocket Shoes", tone, duration, audience="runners")
        words = sum(len(sentence.split()) for sentence in script)
        assert words <= word_budget(duration) and words >= word_budget(duration) * 0.6
        assert "Acme Rocket Shoes" in " ".join(script[:2])
        assert "Acme Rocket Shoes" in " ".join(script[-2:])
        assert any("runners" in sentence for sentence in script)
        assert all(sentence[-1] in ".!?" for sentence in script)
        lengths.append(len(script))
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]


def test_stills_keep_the_whole_product_in_any_frame_shape(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 100), (0, 200, 0)).save(path)
    still = assembly.prepare_still(path, "9:16", long_side=320)
    assert still.size == (180, 320)
    pixels = np.asarray(still)
    green = (pixels[..., 1] > 150) & (pixels[..., 0] < 80)
    columns = np.flatnonzero(green.any(axis=0))
    assert columns[0] > 5 and columns[-1] < 175  # padded, not cropped
    assert assembly.nearest_step_aspect("4:5") == "3:4"
    assert assembly.frame_size("4:5", 720) == (720, 900)


def test_the_composition_is_unavailable_until_its_step_models_are_installed(
    registry: EngineRegistry,
) -> None:
    builtin = CompositionsEngine(registry, [Commercial()])
    assert not builtin.availability(Commercial.spec).available
    fake = CompositionsEngine(registry, [Commercial(FAKE_STEPS)])
    assert fake.availability(Commercial.spec).available
