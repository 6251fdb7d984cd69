"""A video's packets copied into an MP4 with a new sound track (``copy_with_audio``, the dub's
render when the picture does not change): the files are decoded back. The picture is the
source's packet for packet (every frame decodes, as many as the source's, the first at 0 s),
the only sound is the new track, as long as the picture; the MP4 is faststart. A codec MP4
does not take, or browsers do not play, is refused before any file is written."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mediastudio.engines.media.video import (
    AUDIO_RATE,
    CannotCopy,
    copy_with_audio,
    probe,
)

FPS = 25
FRAMES = 30  # 1.2 s
WIDTH, HEIGHT = 96, 64


def source(
    path: Path,
    fmt: str,
    codec: str,
    *,
    audio: str | None = "aac",
    start_s: float = 0.0,
    frames: int = FRAMES,
) -> Path:
    """``frames`` moving pictures at ``FPS`` in ``codec`` (B-frames where it makes them), with
    a tone in ``audio`` (the sound the copy drops)."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(codec, rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = out.add_stream(audio, rate=AUDIO_RATE, layout="mono") if audio else None
        first = round(start_s * FPS)
        for index in range(frames):
            picture = np.full((HEIGHT, WIDTH, 3), (40, 80 + index % 100, 140), dtype=np.uint8)
            left = (2 * index) % (WIDTH - 20)
            picture[20:40, left : left + 20] = (230, 200, 40)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
            frame.pts = first + index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples = tone(frames / FPS, 330.0).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = AUDIO_RATE, round(start_s * AUDIO_RATE)
            frame.time_base = Fraction(1, AUDIO_RATE)
            out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    return path


def tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    return np.asarray(0.3 * np.sin(2 * np.pi * hz * t), dtype=np.float32)


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def decoded_frames(path: Path) -> list[float]:
    """Every frame's time, decoding them all (a broken stream raises)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [float(f.pts * stream.time_base) for f in container.decode(stream)]


def pictures(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(f.to_ndarray().tobytes()) for f in container.decode(video=0)]


def decoded_sound(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        [stream] = container.streams.audio
        assert stream.rate == AUDIO_RATE and stream.codec_context.name == "aac"
        return np.concatenate([f.to_ndarray().mean(axis=0) for f in container.decode(stream)])


def top_level_boxes(data: bytes) -> list[bytes]:
    """The MP4's top-level box types, in file order."""
    boxes, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        boxes.append(kind)
        if size < 8:
            break
        at += size
    return boxes


def pitch(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / AUDIO_RATE)[int(np.argmax(spectrum))])


@pytest.mark.parametrize(
    ("name", "fmt", "codec", "audio", "tag"),
    [
        ("h264.mp4", "mp4", "libx264", "aac", "avc1"),
        ("vp9.webm", "webm", "libvpx-vp9", "libopus", "vp09"),
        ("hevc.mkv", "matroska", "libx265", "aac", "hvc1"),
    ],
)
def test_the_picture_is_copied_packet_for_packet_with_the_new_sound(
    tmp_path: Path, name: str, fmt: str, codec: str, audio: str, tag: str
) -> None:
    given = source(tmp_path / name, fmt, codec, audio=audio)
    out = tmp_path / "dubbed.mp4"
    track = tone(1.0)  # shorter than the picture: padded with silence
    copied = copy_with_audio(given, out, track)

    assert video_packets(out) == video_packets(given)
    times = decoded_frames(out)
    assert len(times) == len(decoded_frames(given)) == FRAMES == copied.frames
    assert times[0] == 0.0
    assert (copied.width, copied.height) == (WIDTH, HEIGHT)
    assert copied.duration_s == pytest.approx(FRAMES / FPS)
    info = probe(out)
    assert info.duration_s == pytest.approx(FRAMES / FPS, abs=0.03) and info.has_audio
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_tag == tag
        assert len(container.streams) == 2  # the source's own sound is gone
    sound = decoded_sound(out)
    # As long as the picture, to an AAC frame (1024 samples); the tone, then silence.
    assert len(sound) == pytest.approx(FRAMES / FPS * AUDIO_RATE, abs=1024)
    assert pitch(sound[: AUDIO_RATE // 2]) == pytest.approx(220.0, abs=5)
    assert float(np.abs(sound[round(1.05 * AUDIO_RATE) :]).max()) < 0.01
    data = out.read_bytes()
    boxes = top_level_boxes(data)
    assert boxes.index(b"moov") < boxes.index(b"mdat")  # faststart


def test_a_longer_track_is_cut_at_the_pictures_end(tmp_path: Path) -> None:
    given = source(tmp_path / "h264.mp4", "mp4", "libx264")
    out = tmp_path / "dubbed.mp4"
    copy_with_audio(given, out, tone(5.0))
    assert len(decoded_sound(out)) == pytest.approx(FRAMES / FPS * AUDIO_RATE, abs=1024)


def test_a_late_first_picture_is_moved_to_zero(tmp_path: Path) -> None:
    """MPEG-TS starts its clock anywhere: the copy's picture starts with its sound, at 0 s."""
    given = source(tmp_path / "late.ts", "mpegts", "libx264", audio="aac", start_s=1.4)
    out = tmp_path / "dubbed.mp4"
    copied = copy_with_audio(given, out, tone(FRAMES / FPS))
    times = decoded_frames(out)
    assert times[0] == 0.0 and len(times) == FRAMES == copied.frames
    assert times[-1] == pytest.approx((FRAMES - 1) / FPS, abs=1e-3)
    # The same pictures (the muxer rewrites H.264's start codes as MP4 stores NAL units).
    assert pictures(out) == pictures(given)


@pytest.mark.parametrize(
    ("name", "fmt", "codec", "audio"),
    [("vp8.webm", "webm", "libvpx", "libopus"), ("mpeg4.avi", "avi", "mpeg4", None)],
)
def test_a_codec_mp4_refuses_or_browsers_do_not_play_is_not_copied(
    tmp_path: Path, name: str, fmt: str, codec: str, audio: str | None
) -> None:
    """VP8 MP4 does not carry; MPEG-4 part 2 it does, but browsers show it black: the caller
    re-encodes both. Nothing is left behind."""
    given = source(tmp_path / name, fmt, codec, audio=audio)
    out = tmp_path / "out" / "dubbed.mp4"
    out.parent.mkdir()
    with pytest.raises(CannotCopy):
        copy_with_audio(given, out, tone(1.0))
    assert list(out.parent.iterdir()) == []


def test_the_track_may_be_stereo(tmp_path: Path) -> None:
    given = source(tmp_path / "h264.mp4", "mp4", "libx264")
    out = tmp_path / "dubbed.mp4"
    copy_with_audio(given, out, np.stack([tone(1.2), tone(1.2, 440.0)], axis=1))
    with av.open(io.BytesIO(out.read_bytes())) as container:
        assert container.streams.audio[0].codec_context.layout.name == "stereo"


def test_a_phones_rotation_flag_is_kept(tmp_path: Path) -> None:
    """A portrait phone video is stored landscape with a display rotation: copied with it."""
    given = tmp_path / "portrait.mp4"
    with av.open(str(given), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.set_display_rotation(90)
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(
                np.zeros((HEIGHT, WIDTH, 3), np.uint8), format="rgb24"
            ).reformat(format="yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    out_path = tmp_path / "dubbed.mp4"
    copy_with_audio(given, out_path, tone(0.2))
    with av.open(str(out_path)) as container:
        assert next(container.decode(video=0)).rotation == 90
