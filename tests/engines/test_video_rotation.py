"""Phone videos: a portrait video stored landscape with a display matrix comes out of every
decoding tool upright (no matrix, width and height swapped), with what was at the stored
picture's top-left where an upright view shows it; probing and output plans report the upright
size too. The reference for "upright" is what FFmpeg's own player-side autorotation shows."""

from __future__ import annotations

import base64
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import BaseModel

from mediastudio.engines.builtin.video_tools import social, subtitles
from mediastudio.engines.builtin.video_tools.autoclip import AutoClipEngine
from mediastudio.engines.builtin.video_tools.clip_input import AutoClipInput
from mediastudio.engines.builtin.video_tools.engine import VideoToolsEngine
from mediastudio.engines.contract import ModelSpec, PlannedOutput
from mediastudio.engines.media.video import (
    AUDIO_RATE,
    Orientation,
    copy_with_audio,
    iter_frames,
    probe,
)
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher

STORED_W, STORED_H = 160, 120
MARK = 40  # the red block's side, at the stored picture's top-left
BACKGROUND = (20, 40, 90)
FPS = 10
Corner = str  # "top-left", "top-right", "bottom-left", "bottom-right"

# PyAV's display rotation is counter-clockwise, as FFmpeg reads it back. A phone held upright
# records -90 (turn the stored picture a quarter clockwise to show it).
WHERE_THE_MARK_SHOWS: dict[tuple[int, bool], Corner] = {
    (-90, False): "top-right",
    (90, False): "bottom-left",
    (180, False): "bottom-right",
    (90, True): "bottom-right",  # a quarter counter-clockwise, then mirrored left to right
    (0, True): "top-right",  # mirrored only
}


def rotated_video(
    path: Path,
    degrees: int,
    *,
    hflip: bool = False,
    seconds: float = 1.0,
    sound: np.ndarray | None = None,
) -> Path:
    """An H.264 MP4 of ``STORED_W x STORED_H`` pictures with a red block in the top-left and a
    display matrix turning it ``degrees`` counter-clockwise (then mirroring, with ``hflip``);
    with ``sound`` (mono float samples at :data:`AUDIO_RATE`) as AAC."""
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = STORED_W, STORED_H, "yuv420p"
        if degrees or hflip:
            video.set_display_rotation(degrees, hflip=hflip)
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if sound is not None else None
        for index in range(round(seconds * FPS)):
            picture = np.full((STORED_H, STORED_W, 3), BACKGROUND, np.uint8)
            picture[:MARK, :MARK] = (230, 30, 30)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None and sound is not None:
            samples = np.ascontiguousarray(sound.astype(np.float32).reshape(1, -1))
            block = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            block.sample_rate, block.pts = AUDIO_RATE, 0
            block.time_base = Fraction(1, AUDIO_RATE)
            out.mux(audio.encode(block))
            out.mux(audio.encode(None))
    return path


def phone_video(tmp_path: Path, seconds: float = 1.0) -> Path:
    return rotated_video(tmp_path / "phone.mp4", -90, seconds=seconds)


def red(picture: np.ndarray) -> np.ndarray:
    channels = picture.astype(np.int16)
    return np.asarray(
        (channels[..., 0] > 150) & (channels[..., 1] < 100) & (channels[..., 2] < 100)
    )


def red_corners(picture: np.ndarray) -> list[Corner]:
    """The corners (a sixth of each side in) that are red."""
    height, width = picture.shape[:2]
    rows = {"top": slice(0, height // 6), "bottom": slice(height - height // 6, height)}
    columns = {"left": slice(0, width // 6), "right": slice(width - width // 6, width)}
    return [
        f"{row}-{column}"
        for row, across in rows.items()
        for column, down in columns.items()
        if red(picture[across, down]).mean() > 0.9
    ]


def first_picture(path: Path) -> np.ndarray:
    """The file's first picture as stored, and that it carries no display matrix."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        assert frame.rotation == 0 and frame.side_data.get("DISPLAYMATRIX") is None
        return np.asarray(frame.to_ndarray(format="rgb24"))


def data_uri(path: Path) -> str:
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


def run_tool(tmp_path: Path, spec: ModelSpec, validated: BaseModel) -> JobContext:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    ctx = JobContext(
        generation_id="gen_test",
        model=spec,
        input=validated,
        sandbox=False,
        workdir=workdir,
        fetcher=SafeFetcher(workdir, NetPolicy()),
    )
    VideoToolsEngine().run(ctx)
    return ctx


def plan(tmp_path: Path, spec: ModelSpec, validated: BaseModel) -> list[tuple[int, int]]:
    assert spec.plan is not None
    fetcher = SafeFetcher(tmp_path, NetPolicy())
    planned = spec.plan(validated, fetcher)
    assert all(isinstance(p, PlannedOutput) for p in planned)
    return [(p.width or 0, p.height or 0) for p in planned if isinstance(p, PlannedOutput)]


# The shared decoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(("degrees", "hflip"), list(WHERE_THE_MARK_SHOWS))
def test_decoded_frames_are_upright_and_probe_says_so(
    tmp_path: Path, degrees: int, hflip: bool
) -> None:
    path = rotated_video(tmp_path / "in.mp4", degrees, hflip=hflip, seconds=0.3)
    quarter = degrees % 180 != 0
    upright = (STORED_H, STORED_W) if quarter else (STORED_W, STORED_H)
    info = probe(path)
    assert (info.width, info.height) == upright
    pictures = [picture for _, picture in iter_frames(path)]
    assert len(pictures) == 3
    for picture in pictures:
        assert (picture.shape[1], picture.shape[0]) == upright
        assert red_corners(picture) == [WHERE_THE_MARK_SHOWS[degrees, hflip]]


def test_an_unrotated_video_is_left_as_it_is(tmp_path: Path) -> None:
    path = rotated_video(tmp_path / "in.mp4", 0, seconds=0.3)
    assert (probe(path).width, probe(path).height) == (STORED_W, STORED_H)
    _, picture = next(iter_frames(path))
    assert red_corners(picture) == ["top-left"]


@pytest.mark.parametrize(
    ("degrees", "expected"),
    [
        (0, Orientation()),
        (90, Orientation(transpose=True, flip_columns=True)),
        (180, Orientation(flip_columns=True, flip_rows=True)),
    ],
)
def test_the_old_rotate_tag_turns_clockwise(degrees: int, expected: Orientation) -> None:
    """FFmpeg before 7 also exported ``rotate`` (clockwise degrees); it is the fallback."""
    assert Orientation.clockwise(degrees) == expected
    assert Orientation.clockwise(270) == Orientation(transpose=True, flip_rows=True)
    picture = np.zeros((2, 3, 3), np.uint8)
    picture[0, 0] = 255
    turned = Orientation.clockwise(90).apply(picture)
    assert turned.shape == (3, 2, 3) and turned[0, 1, 0] == 255  # top-left went top-right


def test_the_copy_reports_the_size_it_displays_at(tmp_path: Path) -> None:
    """The copy keeps the matrix (players turn it), so its reported size is the upright one."""
    silence = np.zeros(4800, np.float32)
    copied = copy_with_audio(phone_video(tmp_path), tmp_path / "out.mp4", silence)
    assert (copied.width, copied.height) == (STORED_H, STORED_W)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert next(container.decode(video=0)).rotation == -90


# The tools ---------------------------------------------------------------------------------------


def test_subtitles_on_a_phone_video_are_upright_with_captions_at_the_bottom(
    tmp_path: Path,
) -> None:
    url = data_uri(phone_video(tmp_path))
    validated = subtitles.SubtitlesInput(
        video_url=url,
        segments=[subtitles.SubtitleSegment(start=0.0, end=5.0, text="Hi")],
        style=subtitles.SubtitleStyle(font_size=20, background_color="transparent"),
    )
    assert plan(tmp_path, subtitles.SPEC, validated) == [(STORED_H, STORED_W)]
    output = run_tool(tmp_path, subtitles.SPEC, validated).outputs[0]
    assert (output.width, output.height) == (STORED_H, STORED_W)
    picture = first_picture(output.path)
    assert picture.shape == (STORED_W, STORED_H, 3)  # 120 wide, 160 high
    assert red_corners(picture) == ["top-right"]
    # White caption text near the bottom of the upright picture, none elsewhere.
    white = np.asarray((picture.astype(np.int16) > 200).all(axis=2))
    assert white[STORED_W * 3 // 4 :].sum() > 20 and white[: STORED_W // 2].sum() == 0


def test_a_social_crop_of_a_phone_video_is_cut_from_the_upright_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upright the source is 3:4, which a 4:5 crop keeps most of ("auto" crops); stored it is
    4:3, which "auto" would letterbox over a blurred background."""
    monkeypatch.setitem(social.PLATFORMS, "instagram", social.Platform("instagram", "4:5", 320, 60))
    url = data_uri(phone_video(tmp_path))
    validated = social.SocialVariantsInput(source_url=url, platforms=["instagram"])
    assert plan(tmp_path, social.SPEC, validated) == [(256, 320)]
    [output] = run_tool(tmp_path, social.SPEC, validated).outputs
    assert (output.width, output.height, output.extra["reframe"]) == (256, 320, "crop")
    picture = first_picture(output.path)
    assert picture.shape == (320, 256, 3)
    assert red_corners(picture) == ["top-right"]


def test_auto_clip_of_a_phone_video_reframes_the_upright_picture(tmp_path: Path) -> None:
    path = phone_video(tmp_path, seconds=2.0)
    engine = AutoClipEngine()
    (spec,) = engine.models()
    validated = AutoClipInput(
        video_url=str(path), aspect_ratio="9:16", min_duration=1, max_duration=2, max_clips=1
    )

    class LocalFetcher:
        def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
            return Path(url)

    assert spec.plan is not None
    [planned] = spec.plan(validated, LocalFetcher())
    assert isinstance(planned, PlannedOutput)
    # Upright 120x160: a 9:16 crop is 90x160 (stored 160x120 would give 68x120).
    assert (planned.width, planned.height) == (90, 160)
    workdir = tmp_path / "work"
    workdir.mkdir()
    ctx = JobContext(
        generation_id="gen_test",
        model=spec,
        input=validated,
        sandbox=False,
        workdir=workdir,
        fetcher=LocalFetcher(),
    )
    engine.run(ctx)
    [output] = ctx.outputs
    assert (output.width, output.height) == (90, 160)
    picture = first_picture(output.path)
    assert picture.shape == (160, 90, 3)
    # The mark is the upright picture's top-right: the centred crop keeps its left part, at
    # the crop's right edge, at the top.
    assert red(picture[:20, -8:]).mean() > 0.9 and not red(picture[:, :40]).any()
    assert not red(picture[100:]).any()
