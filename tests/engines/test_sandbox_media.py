"""The sandbox's placeholder media decode as exactly what was asked for.

Every check here opens the written file with a real decoder (Pillow, PyAV, ``wave``) rather than
trusting that bytes exist: clients of the sandbox feed these files to real players.
"""

from __future__ import annotations

import hashlib
import wave
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from mediastudio.engines.inputs import dimensions_from_aspect
from mediastudio.engines.sandbox import media


class Cancelled(Exception):
    pass


def no_progress(_: float) -> None:
    pass


def never_cancelled() -> None:
    pass


def cancelled_after(calls: int) -> Callable[[], None]:
    """A check_cancelled that lets ``calls`` calls through, then raises."""
    made = 0

    def check() -> None:
        nonlocal made
        made += 1
        if made > calls:
            raise Cancelled

    return check


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decode_audio(path: Path) -> tuple[NDArray[np.float64], int]:
    """All samples of the first audio stream as floats in -1..1, and the sample rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.channels == 1
        chunks = []
        for frame in container.decode(stream):
            samples = frame.to_ndarray()
            scale = 32768.0 if samples.dtype == np.int16 else 1.0
            chunks.append(samples.reshape(-1).astype(np.float64) / scale)
        return np.concatenate(chunks), stream.rate


def assert_progress_reported(calls: list[float]) -> None:
    assert calls, "progress was never reported"
    assert calls == sorted(calls), f"progress went backwards: {calls}"
    assert all(0.0 <= fraction <= 1.0 for fraction in calls)
    assert calls[-1] == pytest.approx(1.0)
    assert len(calls) <= 25, f"progress reported {len(calls)} times"


# --- images ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "pil_format"), [("png", "PNG"), ("webp", "WEBP"), ("jpg", "JPEG")]
)
def test_image_decodes_with_exact_size_and_format(
    tmp_path: Path, image_format: str, pil_format: str
) -> None:
    path = tmp_path / f"out.{image_format}"

    media.write_image(
        path, width=333, height=201, image_format=image_format, seed=1, label="sandbox/image"
    )

    with Image.open(path) as image:
        assert image.format == pil_format
        assert image.size == (333, 201)
        assert image.mode == "RGB"
        image.load()
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("image_format", ["png", "webp", "jpg"])
def test_image_is_deterministic(tmp_path: Path, image_format: str) -> None:
    first, second = tmp_path / f"a.{image_format}", tmp_path / f"b.{image_format}"
    for path in (first, second):
        media.write_image(path, width=96, height=64, image_format=image_format, seed=9, label="x")

    assert digest(first) == digest(second)


def image_pixels(path: Path) -> NDArray[np.float64]:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def test_different_seeds_give_visibly_different_colours(tmp_path: Path) -> None:
    paths = [tmp_path / f"{seed}.png" for seed in (1, 2, 3)]
    for seed, path in enumerate(paths, start=1):
        media.write_image(path, width=128, height=128, image_format="png", seed=seed, label="x")

    pixels = [image_pixels(path) for path in paths]
    for index, one in enumerate(pixels):
        for other in pixels[index + 1 :]:
            assert np.abs(one - other).mean() > 10


def test_label_is_drawn(tmp_path: Path) -> None:
    plain, labelled = tmp_path / "plain.png", tmp_path / "labelled.png"
    media.write_image(plain, width=256, height=128, image_format="png", seed=4, label="")
    media.write_image(labelled, width=256, height=128, image_format="png", seed=4, label="hello")

    assert np.abs(image_pixels(plain) - image_pixels(labelled)).max() > 100


def test_unknown_image_format_is_refused_without_a_file(tmp_path: Path) -> None:
    path = tmp_path / "out.gif"
    with pytest.raises(ValueError, match="gif"):
        media.write_image(path, width=8, height=8, image_format="gif", seed=1, label="x")
    assert list(tmp_path.iterdir()) == []


# --- audio -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audio_format", "sample_rate", "decoded_rate"),
    [
        ("wav", 16000, 16000),
        ("mp3", 24000, 24000),
        ("ogg", 24000, 48000),
        ("flac", 24000, 24000),
        ("aac", 24000, 24000),
    ],
)
def test_audio_decodes_audible_unclipped_and_of_the_right_length(
    tmp_path: Path, audio_format: str, sample_rate: int, decoded_rate: int
) -> None:
    path = tmp_path / f"out.{audio_format}"
    calls: list[float] = []

    media.write_audio(
        path,
        duration_s=2.3,
        audio_format=audio_format,
        seed=3,
        progress=calls.append,
        check_cancelled=never_cancelled,
        sample_rate=sample_rate,
    )

    samples, rate = decode_audio(path)
    assert rate == decoded_rate
    assert len(samples) / rate == pytest.approx(2.3, abs=0.1)
    rms = float(np.sqrt(np.mean(samples**2)))
    assert rms > 0.05, f"too quiet: RMS {rms}"
    peak = float(np.abs(samples).max())
    assert peak < 0.9, f"too close to clipping: peak {peak}"
    assert_progress_reported(calls)
    assert list(tmp_path.iterdir()) == [path]


def test_wav_is_16_bit_mono_pcm(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    media.write_audio(
        path,
        duration_s=1.5,
        audio_format="wav",
        seed=1,
        progress=no_progress,
        check_cancelled=never_cancelled,
    )

    with wave.open(str(path), "rb") as decoded:
        assert decoded.getnchannels() == 1
        assert decoded.getsampwidth() == 2
        assert decoded.getframerate() == 24000
        assert decoded.getnframes() == 36000


def dominant_frequency(path: Path) -> float:
    """The strongest frequency between the once-a-second beeps."""
    samples, rate = decode_audio(path)
    between_beeps = samples[int(0.2 * rate) : int(0.9 * rate)]
    spectrum = np.abs(np.fft.rfft(between_beeps))
    return float(np.fft.rfftfreq(len(between_beeps), 1 / rate)[np.argmax(spectrum)])


def test_seed_sets_the_pitch(tmp_path: Path) -> None:
    pitches = []
    for seed in (0, 5):
        path = tmp_path / f"{seed}.wav"
        media.write_audio(
            path,
            duration_s=1.0,
            audio_format="wav",
            seed=seed,
            progress=no_progress,
            check_cancelled=never_cancelled,
        )
        pitches.append(dominant_frequency(path))

    assert abs(pitches[0] - pitches[1]) > 20


@pytest.mark.parametrize("audio_format", ["wav", "mp3", "ogg", "flac", "aac"])
def test_audio_is_deterministic(tmp_path: Path, audio_format: str) -> None:
    paths = [tmp_path / f"{name}.{audio_format}" for name in "ab"]
    for path in paths:
        media.write_audio(
            path,
            duration_s=1.2,
            audio_format=audio_format,
            seed=8,
            progress=no_progress,
            check_cancelled=never_cancelled,
        )

    assert digest(paths[0]) == digest(paths[1])


@pytest.mark.parametrize("audio_format", ["wav", "mp3", "ogg"])
def test_cancelled_audio_leaves_no_file(tmp_path: Path, audio_format: str) -> None:
    path = tmp_path / f"out.{audio_format}"
    with pytest.raises(Cancelled):
        media.write_audio(
            path,
            duration_s=5.0,
            audio_format=audio_format,
            seed=1,
            progress=no_progress,
            check_cancelled=cancelled_after(2),
        )
    assert list(tmp_path.iterdir()) == []


def test_unknown_audio_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="wma"):
        media.write_audio(
            tmp_path / "out.wma",
            duration_s=1.0,
            audio_format="wma",
            seed=1,
            progress=no_progress,
            check_cancelled=never_cancelled,
        )
    assert list(tmp_path.iterdir()) == []


# --- video -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """The one full-size video of this file, shared by the tests that inspect it."""
    path = tmp_path_factory.mktemp("video") / "out.mp4"
    calls: list[float] = []
    media.write_video(
        path,
        duration_s=2.0,
        width=640,
        height=360,
        fps=24,
        seed=7,
        label="sandbox/video",
        progress=calls.append,
        check_cancelled=never_cancelled,
    )
    return path, calls


def test_video_is_h264_of_exact_size_frames_and_duration(video: tuple[Path, list[float]]) -> None:
    path, _ = video
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
        frames = list(container.decode(stream))

    assert len(frames) == 48
    assert all(frame.format.name == "yuv420p" for frame in frames)
    assert all((frame.width, frame.height) == (640, 360) for frame in frames)
    last = frames[-1]
    assert last.time is not None
    assert last.time + 1 / 24 == pytest.approx(2.0, abs=1 / 24)


def test_video_has_an_aac_track_as_long_as_the_video(video: tuple[Path, list[float]]) -> None:
    path, _ = video
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(2.0, abs=1 / 24)
    samples, rate = decode_audio(path)
    assert len(samples) / rate == pytest.approx(2.0, abs=0.1)
    assert float(np.sqrt(np.mean(samples**2))) > 0.05


def test_video_frames_move(video: tuple[Path, list[float]]) -> None:
    path, _ = video
    with av.open(str(path)) as container:
        pictures = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]

    distinct = {hashlib.sha256(picture.tobytes()).hexdigest() for picture in pictures}
    assert len(distinct) == len(pictures), "some frames are identical"
    changed = np.abs(pictures[0].astype(np.int16) - pictures[12].astype(np.int16)) > 64
    assert changed.sum() > 500, "nothing visible moved in half a second"


def test_video_progress_is_monotonic_and_sparse(video: tuple[Path, list[float]]) -> None:
    _, calls = video
    assert_progress_reported(calls)


def test_video_is_fast_start(video: tuple[Path, list[float]]) -> None:
    data = video[0].read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_small_video_without_audio_rounds_odd_sizes_down(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    media.write_video(
        path,
        duration_s=0.5,
        width=161,
        height=91,
        fps=10,
        seed=1,
        label="odd",
        progress=no_progress,
        check_cancelled=never_cancelled,
        with_audio=False,
    )

    with av.open(str(path)) as container:
        assert len(container.streams.audio) == 0
        frames = list(container.decode(video=0))
    assert len(frames) == 5
    assert (frames[0].width, frames[0].height) == (160, 90)


def test_video_is_deterministic(tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.mp4" for name in "ab"]
    for path in paths:
        media.write_video(
            path,
            duration_s=0.5,
            width=160,
            height=90,
            fps=12,
            seed=2,
            label="same",
            progress=no_progress,
            check_cancelled=never_cancelled,
        )

    assert digest(paths[0]) == digest(paths[1])


def test_cancelled_video_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(Cancelled):
        media.write_video(
            path,
            duration_s=3.0,
            width=160,
            height=90,
            fps=24,
            seed=1,
            label="cancel me",
            progress=no_progress,
            check_cancelled=cancelled_after(3),
        )
    assert list(tmp_path.iterdir()) == []


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aspect_ratio", "long_side", "expected"),
    [
        ("16:9", 1280, (1280, 720)),
        ("9:16", 1280, (720, 1280)),
        ("1:1", 1024, (1024, 1024)),
        ("4:3", 1280, (1280, 960)),
        ("3:4", 1280, (960, 1280)),
        ("3:2", 1280, (1280, 854)),
        ("2:3", 1280, (854, 1280)),
        ("21:9", 1280, (1280, 548)),
        ("16:9", 641, (640, 360)),
    ],
)
def test_dimensions_from_aspect(
    aspect_ratio: str, long_side: int, expected: tuple[int, int]
) -> None:
    assert dimensions_from_aspect(aspect_ratio, long_side) == expected


@pytest.mark.parametrize("aspect_ratio", ["16:9", "9:16", "4:3", "3:2", "21:9", "1:1"])
@pytest.mark.parametrize("long_side", [256, 640, 777, 1024, 1920])
def test_dimensions_are_always_even(aspect_ratio: str, long_side: int) -> None:
    width, height = dimensions_from_aspect(aspect_ratio, long_side)
    assert width % 2 == 0
    assert height % 2 == 0


@pytest.mark.parametrize(
    "aspect_ratio", ["", "16x9", "16:", ":9", "0:9", "16:0", "a:b", "16:9:1", "-16:9", "1.5:1"]
)
def test_malformed_aspect_ratio_is_refused(aspect_ratio: str) -> None:
    with pytest.raises(ValueError):
        dimensions_from_aspect(aspect_ratio, 1280)


def test_tiny_long_side_is_refused() -> None:
    with pytest.raises(ValueError):
        dimensions_from_aspect("16:9", 1)
