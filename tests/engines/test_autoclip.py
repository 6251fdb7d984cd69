"""The auto-clip engine on synthetic videos: shots at known cuts, the lively shot first, clips as
media (duration, size, audio), reframing that keeps a face (or the motion) in frame."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from mediastudio.engines.builtin.video_tools.autoclip import MODEL_ID, AutoClipEngine
from mediastudio.engines.builtin.video_tools.clip_input import AutoClipInput
from mediastudio.engines.builtin.video_tools.reframe import output_size
from mediastudio.engines.builtin.video_tools.scenes import _FaceFinder, analyse_frames, detect_cuts
from mediastudio.engines.contract import InvalidInput, JobCancelled
from mediastudio.engines.media.audio import read_audio
from mediastudio.engines.media.video import iter_frames, probe
from mediastudio.runtime.context import JobContext
from tests.engines import clip_sources as sources


class LocalFetcher:
    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        return Path(url)


def make_context(tmp_path: Path, **values: Any) -> JobContext:
    engine = AutoClipEngine()
    (spec,) = engine.models()
    assert spec.id == MODEL_ID
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    return JobContext(
        generation_id="gen_test",
        model=spec,
        input=AutoClipInput(**values),
        sandbox=False,
        workdir=workdir,
        fetcher=LocalFetcher(),
    )


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sources.shots_video(tmp_path_factory.mktemp("src") / "shots.mp4")


def test_the_synthetic_face_is_a_face_to_the_cascade() -> None:
    frame = np.full((sources.HEIGHT, sources.WIDTH, 3), (60, 70, 80), np.uint8)
    sources.draw_face(frame, (250, 90), 60)
    found = _FaceFinder().largest(frame)
    assert found is not None
    x, y, _ = found
    assert abs(x - 250 / sources.WIDTH) < 0.05 and abs(y - 90 / sources.HEIGHT) < 0.08
    assert _FaceFinder().largest(np.full_like(frame, 90)) is None


def test_shots_are_found_at_the_known_cuts(shots: Path) -> None:
    analysis = analyse_frames(
        shots, duration_s=24, check=lambda: None, progress=lambda _: None, max_seconds=60
    )
    cuts = detect_cuts(analysis.times, analysis.hist_distance)
    assert len(cuts) == len(sources.CUTS)
    for found, known in zip(cuts, sources.CUTS, strict=True):
        assert abs(found - known) <= 1 / 6 + 1 / sources.FPS


def test_the_lively_shot_ranks_first_and_clips_are_real_media(shots: Path, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, video_url=str(shots), max_clips=3, min_duration=4, max_duration=8)
    AutoClipEngine().run(ctx)
    assert len(ctx.outputs) == 3 and ctx.percent == 100
    best = ctx.outputs[0].extra
    assert (best["start_s"], best["end_s"]) == pytest.approx(sources.LIVELY_SHOT, abs=0.2)
    assert best["rank"] == 1 and "loud" in best["reason"] and "high motion" in best["reason"]
    scores = [o.extra["score"] for o in ctx.outputs]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1] + 20
    spans = sorted((o.extra["start_s"], o.extra["end_s"]) for o in ctx.outputs)
    assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(spans))
    want = output_size(sources.WIDTH, sources.HEIGHT, "9:16")
    for output in ctx.outputs:
        info = probe(output.path)
        assert (info.width, info.height) == want == (output.width, output.height)
        assert info.width < info.height
        assert 4 - 0.1 <= info.duration_s <= 8 + 0.15
        assert output.duration_s == pytest.approx(
            output.extra["end_s"] - output.extra["start_s"], abs=0.1
        )
        frames = sum(1 for _ in iter_frames(output.path))
        assert frames == round(output.duration_s * sources.FPS)
        assert info.has_audio
        sound = read_audio(output.path, rate=48_000)
        assert len(sound) / 48_000 == pytest.approx(output.duration_s, abs=0.1)
    loud = read_audio(ctx.outputs[0].path, rate=48_000)
    quiet = read_audio(ctx.outputs[1].path, rate=48_000)
    assert np.sqrt(np.mean(loud**2)) > 10 * np.sqrt(np.mean(quiet**2)) > 0


def test_reframing_keeps_the_face_in_frame(tmp_path: Path) -> None:
    source = sources.face_video(tmp_path / "face.mp4")
    ctx = make_context(
        tmp_path,
        video_url=str(source),
        max_clips=1,
        min_duration=4,
        max_duration=8,
        aspect_ratio="9:16",
    )
    AutoClipEngine().run(ctx)
    (clip,) = ctx.outputs
    assert clip.extra["focus"] == "face"
    finder = _FaceFinder()
    frames = [frame for _, frame in iter_frames(clip.path)][::12]
    found = [finder.largest(frame) for frame in frames]
    assert all(f is not None for f in found)
    for face in found:
        assert face is not None and 0.3 < face[0] < 0.7  # near the middle of the 9:16 crop
    # Following the motion instead would have shown the bouncing box, not the face.
    assert all(sources.box_centre_x(frame) is None for frame in frames)


def test_without_a_face_the_crop_follows_the_motion(tmp_path: Path) -> None:
    source = sources.moving_box_video(tmp_path / "box.mp4")
    ctx = make_context(
        tmp_path,
        video_url=str(source),
        max_clips=1,
        min_duration=6,
        max_duration=8,
        aspect_ratio="1:1",
    )
    AutoClipEngine().run(ctx)
    (clip,) = ctx.outputs
    assert clip.extra["focus"] == "motion"
    assert (clip.width, clip.height) == (180, 180)
    positions = [sources.box_centre_x(frame) for _, frame in iter_frames(clip.path)]
    assert all(p is not None for p in positions)  # the box never leaves the square crop
    # The box crosses the source, so a fixed centre crop would lose it at both ends.
    inner = [p for p in positions[6:-6] if p is not None]
    assert min(inner) > 0.15 and max(inner) < 0.85


def test_a_threshold_nothing_reaches_fails_with_invalid_input(shots: Path, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, video_url=str(shots), viral_score_threshold=99.5)
    with pytest.raises(InvalidInput, match="viral_score_threshold"):
        AutoClipEngine().run(ctx)
    assert ctx.outputs == []


def test_a_corrupt_or_too_short_video_is_invalid_input(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(InvalidInput):
        AutoClipEngine().run(make_context(tmp_path, video_url=str(corrupt)))
    short = sources.moving_box_video(tmp_path / "short.mp4", seconds=2.0)
    with pytest.raises(InvalidInput, match="shorter than min_duration"):
        AutoClipEngine().run(make_context(tmp_path, video_url=str(short), min_duration=5))


def test_cancellation_stops_the_analysis(shots: Path, tmp_path: Path) -> None:
    ctx = make_context(tmp_path, video_url=str(shots))
    ctx.cancel("user")
    with pytest.raises(JobCancelled):
        AutoClipEngine().run(ctx)


def test_the_input_is_bounded() -> None:
    with pytest.raises(ValidationError, match="min_duration"):
        AutoClipInput(video_url="https://x.test/v.mp4", min_duration=20, max_duration=10)
    for bad in (
        {"max_clips": 0},
        {"max_clips": 21},
        {"viral_score_threshold": 101},
        {"aspect_ratio": "4:3"},
    ):
        with pytest.raises(ValidationError):
            AutoClipInput(video_url="https://x.test/v.mp4", **bad)


def test_decoded_output_is_h264_and_aac(shots: Path, tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path,
        video_url=str(shots),
        max_clips=1,
        min_duration=4,
        max_duration=8,
        aspect_ratio="16:9",
    )
    AutoClipEngine().run(ctx)
    (clip,) = ctx.outputs
    assert (clip.width, clip.height) == (320, 180)
    with av.open(str(clip.path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
    assert cv2.__version__  # OpenCV present (the face cascade ships with it)
