"""The video-tools engine through the engine contract: outputs decoded and checked as media."""

from __future__ import annotations

import base64
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel, ValidationError

from mediastudio.engines.builtin.video_tools import frames, image_to_video, social, subtitles
from mediastudio.engines.builtin.video_tools.engine import VideoToolsEngine
from mediastudio.engines.contract import InvalidInput, JobCancelled, ModelSpec
from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher

ENGINE = VideoToolsEngine()


def run(tmp_path: Path, spec: ModelSpec, validated: BaseModel) -> JobContext:
    ctx = JobContext(
        generation_id="gen_test",
        model=spec,
        input=validated,
        sandbox=False,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
    )
    ENGINE.run(ctx)
    return ctx


def data_uri(path: Path, content_type: str) -> str:
    return f"data:{content_type};base64," + base64.b64encode(path.read_bytes()).decode()


def write_image(path: Path, pixels: np.ndarray) -> str:
    Image.fromarray(pixels).save(path)
    return data_uri(path, "image/png")


def flat_video(
    path: Path,
    width: int = 160,
    height: int = 120,
    *,
    seconds: float = 2.0,
    fps: int | Fraction = 10,
    audio: bool = True,
) -> str:
    """A slowly changing flat colour (cheap to encode, little codec noise) with a 440 Hz tone."""
    count = round(seconds * float(fps))
    tone = None
    if audio:
        t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with VideoWriter(path, width, height, fps=fps, audio=tone) as writer:
        for index in range(count):
            frame = np.full((height, width, 3), (60 + index, 90, 140), dtype=np.uint8)
            writer.write(frame)
    return data_uri(path, "video/mp4")


def decode(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        pictures = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
        info: dict[str, object] = {
            "frames": pictures,
            "fps": video.average_rate,
            "duration": float(container.duration or 0) / av.time_base,
            "audio": None,
        }
    with av.open(str(path)) as container:
        if container.streams.audio:
            chunks = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
            info["audio"] = np.concatenate(chunks)
    return info


# Image to video --------------------------------------------------------------------------------


def test_image_to_video_at_720p_has_the_frames_duration_and_a_silent_track(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    url = write_image(tmp_path / "in.png", (rng.random((300, 400, 3)) * 255).astype(np.uint8))
    validated = image_to_video.ImageToVideoInput(first_frame_image=url, duration=1, fps=12)
    ctx = run(tmp_path, image_to_video.SPEC, validated)
    output = ctx.outputs[0]
    assert (output.width, output.height, output.duration_s) == (1280, 720, 1.0)
    media = decode(output.path)
    pictures = media["frames"]
    assert isinstance(pictures, list) and len(pictures) == 12
    assert pictures[0].shape == (720, 1280, 3)
    assert abs(float(media["duration"]) - 1.0) < 0.05  # type: ignore[arg-type]
    audio = media["audio"]
    assert isinstance(audio, np.ndarray) and len(audio) > 0 and np.abs(audio).max() < 1e-3
    first, last = (p.astype(np.int16) for p in (pictures[0], pictures[-1]))
    assert np.abs(first - last).mean() > 10  # the camera moved
    assert ctx.percent == 100 and output.extra["motion"] == "zoom-in"


def test_image_to_video_without_audio_in_portrait(tmp_path: Path) -> None:
    url = write_image(tmp_path / "in.png", np.full((100, 100, 3), 128, np.uint8))
    validated = image_to_video.ImageToVideoInput(
        first_frame_image=url,
        duration=1,
        fps=8,
        aspect_ratio="9:16",
        resolution="360p",
        silent_audio=False,
    )
    output = run(tmp_path, image_to_video.SPEC, validated).outputs[0]
    media = decode(output.path)
    assert media["audio"] is None and media["frames"][0].shape == (640, 360, 3)  # type: ignore[index]


def test_a_pan_right_moves_towards_the_right_of_the_image(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 255, 400, dtype=np.uint8)[None, :, None], (225, 1, 3))
    url = write_image(tmp_path / "in.png", ramp)
    validated = image_to_video.ImageToVideoInput(
        first_frame_image=url, duration=1, fps=8, resolution="360p", motion="pan-right"
    )
    pictures = decode(run(tmp_path, image_to_video.SPEC, validated).outputs[0].path)["frames"]
    assert isinstance(pictures, list)
    assert pictures[-1].mean() > pictures[0].mean() + 20


def test_auto_motion_zooms_towards_the_salient_region() -> None:
    image = np.full((400, 600, 3), 90, np.uint8)
    rng = np.random.default_rng(2)
    image[40:140, 60:160] = (rng.random((100, 100, 3)) * 255).astype(np.uint8)  # top left
    fx, fy = image_to_video.salient_point(image)
    assert fx < 0.45 and fy < 0.45
    start, end = image_to_video.plan(600, 400, 16 / 9, "zoom-in", (fx, fy), 1.3)
    assert start.zoom == 1.0 and end.zoom == 1.3 and end.x < 300 and end.y < 200


def test_the_seed_picks_the_motion_repeatably() -> None:
    picks = {image_to_video.choose_motion("auto", seed) for seed in range(40)}
    assert picks == set(image_to_video.MOTIONS)
    assert image_to_video.choose_motion("auto", 7) == image_to_video.choose_motion("auto", 7)
    assert image_to_video.choose_motion("auto", None) == "zoom-in"


def test_image_to_video_requires_an_image_and_refuses_a_corrupt_one(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        image_to_video.ImageToVideoInput.model_validate({"prompt": "a cat"})
    broken = "data:image/png;base64," + base64.b64encode(b"not an image").decode()
    validated = image_to_video.ImageToVideoInput(first_frame_image=broken, duration=1)
    with pytest.raises(InvalidInput):
        run(tmp_path, image_to_video.SPEC, validated)


def test_cancelling_leaves_no_output_file(tmp_path: Path) -> None:
    url = write_image(tmp_path / "in.png", np.full((100, 100, 3), 128, np.uint8))
    validated = image_to_video.ImageToVideoInput(first_frame_image=url, duration=1)
    ctx = JobContext(
        generation_id="gen_test",
        model=image_to_video.SPEC,
        input=validated,
        sandbox=False,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
    )
    ctx.cancel("test")
    with pytest.raises(JobCancelled):
        ENGINE.run(ctx)
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*partial*"))


# Subtitles -------------------------------------------------------------------------------------

SRT = """1
00:00:00,500 --> 00:00:01,200
Hello <b>world</b>

2
00:00:01,600 --> 00:00:01,800
Second
"""


def region_difference(out: list[np.ndarray], source: list[np.ndarray], rows: slice) -> list[float]:
    return [
        float(np.abs(a[rows].astype(np.int16) - b[rows].astype(np.int16)).mean())
        for a, b in zip(out, source, strict=True)
    ]


@pytest.mark.parametrize(("position", "rows"), [("bottom", slice(90, 120)), ("top", slice(0, 30))])
def test_subtitles_are_drawn_during_cues_only_and_keep_size_fps_and_sound(
    tmp_path: Path, position: str, rows: slice
) -> None:
    url = flat_video(tmp_path / "src.mp4")
    validated = subtitles.SubtitlesInput(video_url=url, subtitles=SRT, position=position)
    output = run(tmp_path, subtitles.SPEC, validated).outputs[0]
    assert (output.width, output.height) == (160, 120) and output.extra["cues"] == 2
    media, source = decode(output.path), decode(tmp_path / "src.mp4")
    pictures, originals = media["frames"], source["frames"]
    assert isinstance(pictures, list) and isinstance(originals, list)
    assert len(pictures) == 20 and media["fps"] == 10
    diff = region_difference(pictures, originals, rows)
    in_cue = [i for i in range(20) if 0.5 <= i / 10 < 1.2 or 1.6 <= i / 10 < 1.8]
    assert min(diff[i] for i in in_cue) > 15
    assert max(diff[i] for i in range(20) if i not in in_cue) < 3
    audio = media["audio"]
    assert isinstance(audio, np.ndarray) and np.abs(audio).max() > 0.1  # the tone is kept


def test_subtitles_keep_an_ntsc_frame_rate_and_take_segments(tmp_path: Path) -> None:
    url = flat_video(tmp_path / "src.mp4", seconds=1.0, fps=Fraction(30000, 1001), audio=False)
    validated = subtitles.SubtitlesInput.model_validate(
        {
            "video_url": url,
            "segments": [{"start": 0.0, "end": 0.5, "text": "Hi"}],
            "style": {"font_size": 30, "color": "#ff0000", "background_color": "transparent"},
        }
    )
    output = run(tmp_path, subtitles.SPEC, validated).outputs[0]
    media = decode(output.path)
    assert media["fps"] == Fraction(30000, 1001) and media["audio"] is None
    assert len(media["frames"]) == 30  # type: ignore[arg-type]
    first = media["frames"][0]  # type: ignore[index]
    red = (first[:, :, 0].astype(int) - first[:, :, 1].astype(int)) > 100
    assert red.sum() > 30  # red text, no box


def test_subtitle_input_rules() -> None:
    generated = subtitles.SubtitlesInput(video_url="https://x/v.mp4", language="de")
    assert generated.generates_captions  # neither text: made from the video's speech
    segments = [{"start": 0, "end": 1, "text": "Hi"}]
    with pytest.raises(ValidationError, match="not both"):
        subtitles.SubtitlesInput.model_validate(
            {"video_url": "https://x/v.mp4", "subtitles": SRT, "segments": segments}
        )
    with pytest.raises(ValidationError, match="only to generated captions"):
        subtitles.SubtitlesInput(video_url="https://x/v.mp4", subtitles=SRT, language="en")
    with pytest.raises(ValidationError, match="timing"):
        subtitles.SubtitlesInput(video_url="https://x/v.mp4", subtitles="1\n00:00:01 --> x\nHi\n")
    with pytest.raises(ValidationError, match="colour"):
        subtitles.SubtitleStyle(color="not-a-colour")
    assert subtitles.SubtitleStyle(background_color="#00000080").background_color == "#00000080"


def test_a_corrupt_video_fails_with_invalid_input(tmp_path: Path) -> None:
    broken = "data:video/mp4;base64," + base64.b64encode(b"\x00\x00\x00 ftypisom" * 10).decode()
    validated = subtitles.SubtitlesInput(video_url=broken, subtitles=SRT)
    with pytest.raises(InvalidInput):
        run(tmp_path, subtitles.SPEC, validated)


# Social variants -------------------------------------------------------------------------------


def test_social_variants_from_a_video_per_platform_size_length_and_sound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(social.PLATFORMS, "twitter", social.Platform("twitter", "16:9", 1280, 1))
    url = flat_video(tmp_path / "src.mp4", 240, 150, seconds=2.0)  # 16:10
    validated = social.SocialVariantsInput(source_url=url, platforms=["tiktok", "twitter"])
    ctx = run(tmp_path, social.SPEC, validated)
    tiktok, twitter = ctx.outputs
    assert tiktok.extra["platform"] == "tiktok" and twitter.extra["platform"] == "twitter"
    assert (tiktok.width, tiktok.height, tiktok.extra["reframe"]) == (720, 1280, "blur")
    assert (twitter.width, twitter.height, twitter.extra["reframe"]) == (1280, 720, "crop")
    assert twitter.extra["trimmed"] is True and tiktok.extra["trimmed"] is False
    long, short = decode(tiktok.path), decode(twitter.path)
    assert len(long["frames"]) == 20 and len(short["frames"]) == 10  # type: ignore[arg-type]
    assert abs(float(short["duration"]) - 1.0) < 0.05  # type: ignore[arg-type]
    for media in (long, short):
        audio = media["audio"]
        assert isinstance(audio, np.ndarray) and np.abs(audio).max() > 0.1
    top_band = long["frames"][0][:200]  # type: ignore[index]
    middle = long["frames"][0][640]  # type: ignore[index]
    assert top_band.mean() < middle.mean()  # darkened blurred band above the fitted picture


def test_social_variants_from_an_image_are_short_still_videos(tmp_path: Path) -> None:
    url = write_image(tmp_path / "in.png", np.full((120, 160, 3), 200, np.uint8))
    validated = social.SocialVariantsInput(
        source_url=url, platforms=["instagram", "linkedin"], image_duration=1
    )
    assert validated.num_outputs == 2 and social.SPEC.units(validated) == 2
    ctx = run(tmp_path, social.SPEC, validated)
    sizes = [(o.width, o.height) for o in ctx.outputs]
    assert sizes == [(1024, 1280), (1080, 1080)]
    media = decode(ctx.outputs[1].path)
    assert len(media["frames"]) == 30 and media["audio"] is not None  # type: ignore[arg-type]


def test_every_platform_has_a_size_within_the_cap() -> None:
    for platform in social.PLATFORMS.values():
        width, height = platform.size()
        assert max(width, height) <= social.LONG_SIDE_CAP and width % 2 == 0 == height % 2
    with pytest.raises(ValidationError, match="once"):
        social.SocialVariantsInput(source_url="https://x/a.png", platforms=["tiktok", "tiktok"])


def test_frames_on_grid_resamples_to_the_output_rate(tmp_path: Path) -> None:
    flat_video(tmp_path / "src.mp4", seconds=1.0, fps=10, audio=False)
    times = [t for _, t, _ in frames.frames_on_grid(tmp_path / "src.mp4", 25, max_seconds=10)]
    assert len(times) == 25 and times[1] == pytest.approx(0.04)
    assert frames.output_rate(29.97, 60) == Fraction(30000, 1001)
    assert frames.output_rate(30.0, 60) == 30 and frames.output_rate(120.0, 30) == 30
