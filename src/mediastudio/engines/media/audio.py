"""Audio in and out: float32 samples in ``[-1, 1]``, shaped ``(samples,)`` for mono or
``(samples, channels)``, encoded to WAV, MP3, Ogg/Opus, FLAC or AAC (ADTS) with PyAV and
decoded from anything FFmpeg reads. Encoding goes chunk by chunk so a long track never needs a
second copy in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from numpy.typing import NDArray

from mediastudio.engines.contract import InvalidInput
from mediastudio.engines.media.files import INPUT_OPTIONS, atomic_target

Samples = NDArray[np.float32]
AudioFormat = Literal["mp3", "wav", "ogg", "flac", "aac"]

# (encoder, muxer, bit rate per channel, forced sample rate): Opus only runs at 48 kHz.
_CODECS: dict[str, tuple[str, str, int, int | None]] = {
    "mp3": ("libmp3lame", "mp3", 96_000, None),
    "ogg": ("libopus", "ogg", 64_000, 48_000),
    "wav": ("pcm_s16le", "wav", 0, None),
    # What hosted speech (OpenAI) also answers in, so the sandbox twin can write them too.
    "flac": ("flac", "flac", 0, None),
    "aac": ("aac", "adts", 64_000, None),
}
# Encoders that take 16-bit integer samples rather than planar floats.
_S16_CODECS = frozenset({"pcm_s16le", "flac"})
# Without bitexact the Ogg muxer picks a random serial number and others stamp the FFmpeg version:
# both would break "same input, same bytes".
_CONTAINER_OPTIONS = {"fflags": "+bitexact"}
# LAME's algorithm quality 5 instead of FFmpeg's default: same size, 1.3x less CPU for 60 s of
# stereo (3.3 vs 4.3 CPU s, measured 2026-11-23); 7 would halve it at audibly lower quality.
_CODEC_OPTIONS = {"libmp3lame": {"compression_level": "5"}}
_CHUNK_S = 1.0
MAX_DECODED_S = 3 * 3600.0
CANCEL_CHECK_FRAMES = 200  # about 5 s of AAC or MP3


def file_rate(audio_format: str, rate: int) -> int:
    """The sample rate a file of ``audio_format`` made from sound at ``rate`` has: Opus (``ogg``)
    always runs at 48 kHz, the others keep the rate."""
    forced = _CODECS[audio_format][3] if audio_format in _CODECS else None
    return forced or rate


def as_channels(samples: Samples) -> Samples:
    """``(n,)`` → ``(n, 1)``; ``(n, c)`` unchanged."""
    return samples[:, None] if samples.ndim == 1 else samples


def resample(samples: Samples, source_rate: int, target_rate: int) -> Samples:
    """Linear-interpolation resampling (enough for speech and for mixing beds)."""
    if source_rate == target_rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    channels = as_channels(samples)
    count = max(1, round(len(channels) * target_rate / source_rate))
    source_t = np.arange(len(channels), dtype=np.float64) / source_rate
    target_t = np.arange(count, dtype=np.float64) / target_rate
    out = np.stack(
        [np.interp(target_t, source_t, channels[:, c]) for c in range(channels.shape[1])], axis=1
    ).astype(np.float32)
    return out[:, 0] if samples.ndim == 1 else out


def write_audio(path: Path, samples: Samples, rate: int, audio_format: AudioFormat) -> float:
    """Encode ``samples`` (clipped to ``[-1, 1]``) into ``path``; returns the seconds written."""
    if audio_format not in _CODECS:
        raise ValueError(f"unsupported audio format: {audio_format!r}")
    codec, muxer, bit_rate, forced_rate = _CODECS[audio_format]
    channels = as_channels(np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False))
    if forced_rate and forced_rate != rate:
        channels = as_channels(resample(channels, rate, forced_rate))
        rate = forced_rate
    layout = "mono" if channels.shape[1] == 1 else "stereo"
    if channels.shape[1] > 2:
        raise ValueError("at most two channels")
    with (
        atomic_target(path) as temporary,
        av.open(str(temporary), "w", format=muxer, container_options=_CONTAINER_OPTIONS) as out,
    ):
        stream: av.audio.stream.AudioStream = out.add_stream(  # type: ignore[assignment]
            codec, rate=rate, layout=layout, options=_CODEC_OPTIONS.get(codec, {})
        )
        if bit_rate:
            stream.bit_rate = bit_rate * channels.shape[1]
        sample_format = "s16" if codec in _S16_CODECS else None
        chunk = int(_CHUNK_S * rate)
        for first in range(0, len(channels), chunk):
            part = channels[first : first + chunk]
            out.mux(stream.encode(_frame(part, rate, first, layout, sample_format)))
        out.mux(stream.encode(None))
    return len(channels) / rate


def _frame(
    part: Samples, rate: int, first: int, layout: str, sample_format: str | None
) -> av.AudioFrame:
    if sample_format == "s16":
        packed = np.round(part * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(packed, format="s16", layout=layout)
    else:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(part.T), format="fltp", layout=layout
        )
    frame.sample_rate = rate
    frame.pts = first
    frame.time_base = Fraction(1, rate)
    return frame


def read_audio(
    path: Path,
    *,
    rate: int,
    mono: bool = True,
    max_duration_s: float = MAX_DECODED_S,
    until_s: float | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> Samples:
    """Decode the first audio stream of any file FFmpeg reads, resampled to ``rate``.

    Returns ``(n,)`` when ``mono`` else ``(n, 2)``. A file without audio gives an empty array; a
    file that is not media, or longer than ``max_duration_s``, raises :class:`InvalidInput`.
    With ``until_s``, decoding stops after that many seconds (the rest is cut, not refused).
    ``check_cancelled`` is called every :data:`CANCEL_CHECK_FRAMES` decoded frames (a long track
    takes seconds to decode).
    """
    layout = "mono" if mono else "stereo"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    parts: list[Samples] = []
    total = 0
    limit = int(max_duration_s * rate)
    cut = None if until_s is None else max(0, int(until_s * rate))
    try:
        with av.open(str(path), options=INPUT_OPTIONS) as container:
            if not container.streams.audio:
                return np.zeros((0,) if mono else (0, 2), dtype=np.float32)
            for index, frame in enumerate(container.decode(audio=0)):
                if check_cancelled is not None and index % CANCEL_CHECK_FRAMES == 0:
                    check_cancelled()
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().T.astype(np.float32))
                    total += out.samples
                if cut is not None and total >= cut:
                    break
                if total > limit:
                    raise InvalidInput(f"The audio is longer than {max_duration_s:g} seconds.")
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().T.astype(np.float32))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The file could not be decoded as audio: {exc}") from exc
    joined = np.concatenate(parts) if parts else np.zeros((0, 1 if mono else 2), np.float32)
    if cut is not None:
        joined = joined[:cut]
    return joined[:, 0] if mono else joined


def peak_normalise(samples: Samples, peak: float = 0.89) -> Samples:
    """Scale so the loudest sample sits at ``peak`` (about -1 dBFS); silence stays silence."""
    loudest = float(np.max(np.abs(samples))) if samples.size else 0.0
    if loudest < 1e-9:
        return samples
    return (samples * (peak / loudest)).astype(np.float32)
