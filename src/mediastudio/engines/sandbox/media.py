"""Deterministic placeholder media for the sandbox engine.

Real, decodable files of exactly the requested type, format, size and duration, marked SANDBOX,
the same bytes for the same arguments, cheap on two CPU cores. Audio and video are encoded chunk
by chunk, never built whole in memory. Every writer writes to a temporary name beside ``path``
and renames at the end, so a cancelled or failed write never leaves a half file behind.
"""

from __future__ import annotations

import contextlib
import os
import wave
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

Progress = Callable[[float], None]
CheckCancelled = Callable[[], None]

_PIL_FORMATS = {"png": "PNG", "webp": "WEBP", "jpg": "JPEG"}
_AUDIO_CODECS = {"mp3": ("libmp3lame", "mp3"), "ogg": ("libopus", "ogg")}
_AUDIO_AMPLITUDE = 0.25
_VIDEO_AUDIO_RATE = 48000


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    temporary = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _palette(seed: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    start = rng.integers(30, 200, size=3).astype(np.float32)
    end = rng.integers(30, 200, size=3).astype(np.float32)
    return start, end


def _gradient(width: int, height: int, seed: int) -> NDArray[np.uint8]:
    start, end = _palette(seed)
    across = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    down = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    mix = 0.7 * across + 0.3 * down
    pixels: NDArray[np.uint8] = (start * (1 - mix) + end * mix).astype(np.uint8)
    return pixels


def _draw_label(image: Image.Image, label: str) -> None:
    draw = ImageDraw.Draw(image)
    size = max(12, min(image.width, image.height) // 12)
    font = ImageFont.load_default(size=size)
    for line, (x, y) in (("SANDBOX", (size, size)), (label, (size, int(size * 2.4)))):
        draw.text(
            (x, y), line, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0)
        )


def write_image(
    path: Path, *, width: int, height: int, image_format: str, seed: int, label: str
) -> None:
    """A seed-coloured gradient with SANDBOX and ``label`` on it, exactly width by height."""
    image = Image.fromarray(_gradient(width, height, seed), "RGB")
    _draw_label(image, label)
    with _atomic(path) as temporary:
        image.save(temporary, format=_PIL_FORMATS[image_format])


def _tone(start: int, count: int, rate: int, seed: int) -> NDArray[np.float32]:
    """A soft tone at a seed-derived pitch with a short beep at every whole second."""
    t = (np.arange(start, start + count, dtype=np.float64)) / rate
    pitch = 220.0 + (seed % 24) * 10.0
    signal = 0.6 * np.sin(2 * np.pi * pitch * t)
    beeping = (t % 1.0) < 0.08
    signal = signal + np.where(beeping, 0.4 * np.sin(2 * np.pi * 880.0 * t), 0.0)
    return (_AUDIO_AMPLITUDE * signal).astype(np.float32)


def _chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(size, total - start)


def write_audio(
    path: Path,
    *,
    duration_s: float,
    audio_format: str,
    seed: int,
    progress: Progress,
    check_cancelled: CheckCancelled,
    sample_rate: int = 24000,
) -> None:
    """Mono placeholder audio: wav (PCM 16-bit), mp3 or ogg (Opus, always 48 kHz)."""
    rate = 48000 if audio_format == "ogg" else sample_rate
    total = round(duration_s * rate)
    with _atomic(path) as temporary:
        if audio_format == "wav":
            _write_wav(temporary, total, rate, seed, progress, check_cancelled)
        else:
            _write_encoded_audio(
                temporary, audio_format, total, rate, seed, progress, check_cancelled
            )
    progress(1.0)


def _write_wav(
    path: Path, total: int, rate: int, seed: int, progress: Progress, check: CheckCancelled
) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for start, count in _chunks(total, rate):
            check()
            samples = (_tone(start, count, rate, seed) * 32767).astype("<i2")
            out.writeframes(samples.tobytes())
            progress((start + count) / total)


def _write_encoded_audio(
    path: Path,
    audio_format: str,
    total: int,
    rate: int,
    seed: int,
    progress: Progress,
    check: CheckCancelled,
) -> None:
    codec, container_format = _AUDIO_CODECS[audio_format]
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.audio.stream.AudioStream)
        for start, count in _chunks(total, rate):
            check()
            _encode_audio(container, stream, _tone(start, count, rate, seed), rate, start)
            progress((start + count) / total)
        for packet in stream.encode(None):
            container.mux(packet)


def _encode_audio(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    samples: NDArray[np.float32],
    rate: int,
    pts: int,
) -> None:
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    for packet in stream.encode(frame):
        container.mux(packet)


def write_video(
    path: Path,
    *,
    duration_s: float,
    width: int,
    height: int,
    fps: int,
    seed: int,
    label: str,
    progress: Progress,
    check_cancelled: CheckCancelled,
    with_audio: bool = True,
) -> None:
    """H.264/AAC MP4: a seed-coloured background, the label, and a bar sweeping across.

    Odd dimensions are rounded down to even ones (yuv420p needs even sizes).
    """
    width, height = width - width % 2, height - height % 2
    frames = max(1, round(duration_s * fps))
    background = Image.fromarray(_gradient(width, height, seed), "RGB")
    _draw_label(background, label)
    still = np.asarray(background)
    bar_height = max(4, height // 20)
    with (
        _atomic(path) as temporary,
        av.open(str(temporary), "w", format="mp4", options={"movflags": "+faststart"}) as container,
    ):
        video = container.add_stream(
            "libx264", rate=fps, options={"preset": "veryfast", "crf": "30"}
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = (
            container.add_stream("aac", rate=_VIDEO_AUDIO_RATE, layout="mono")
            if with_audio
            else None
        )
        samples_per_frame = _VIDEO_AUDIO_RATE / fps
        report_every = max(1, frames // 20)
        for index in range(frames):
            if index % 5 == 0:
                check_cancelled()
            frame = _video_frame(still, index, frames, bar_height)
            for packet in video.encode(frame):
                container.mux(packet)
            if audio is not None:
                start = round(index * samples_per_frame)
                count = round((index + 1) * samples_per_frame) - start
                tone = _tone(start, count, _VIDEO_AUDIO_RATE, seed)
                _encode_audio(container, audio, tone, _VIDEO_AUDIO_RATE, start)
            if (index + 1) % report_every == 0:
                progress((index + 1) / frames)
        for stream in (video, audio):
            if stream is not None:
                for packet in stream.encode(None):
                    container.mux(packet)
    progress(1.0)


def _video_frame(
    still: NDArray[np.uint8], index: int, frames: int, bar_height: int
) -> av.VideoFrame:
    pixels = still.copy()
    height, width = pixels.shape[:2]
    end = max(1, round(width * (index + 1) / frames))
    pixels[height - bar_height :, :end] = (255, 255, 255)
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
    frame.pts = index
    return frame
