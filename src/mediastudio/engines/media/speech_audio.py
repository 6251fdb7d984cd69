"""Audio to send to a speech-to-text service: the input as it is when the service reads it and
it is small enough, else its first audio track re-encoded, streamed frame by frame, as a compact
mono 16 kHz MP3 (speech models hear 16 kHz: Whisper resamples everything to it). A video's
sound is always extracted: its picture is most of its bytes and no use to a transcriber.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from mediastudio.engines.contract import InvalidInput
from mediastudio.engines.media.files import INPUT_OPTIONS, atomic_target

SPEECH_RATE = 16_000
SPEECH_BIT_RATE = 32_000  # mono MP3 at 32 kbit/s: about 14 MB an hour, clear for speech
# FFmpeg demuxer → (suffix, content type) of the audio files sent as they are.
AS_IS: dict[str, tuple[str, str]] = {
    "mp3": (".mp3", "audio/mpeg"),
    "wav": (".wav", "audio/wav"),
    "ogg": (".ogg", "audio/ogg"),
    "flac": (".flac", "audio/flac"),
}
CANCEL_CHECK_FRAMES = 200


@dataclass(frozen=True)
class SpeechAudio:
    path: Path
    filename: str  # the name the service is told (its suffix says the format)
    content_type: str
    duration_s: float
    converted: bool  # re-encoded (a video's sound, or a format or size the service refuses)


def prepare(
    source: Path,
    target: Path,
    *,
    max_bytes: int,
    check_cancelled: Callable[[], None] | None = None,
) -> SpeechAudio:
    """``source`` as a file of at most ``max_bytes`` the service reads (``target`` is where a
    re-encoded copy goes, its suffix ``.mp3``). A file with no audio, or audio too long to fit
    even re-encoded, is :class:`InvalidInput` with the reason."""
    demuxer, has_video, duration = probe(source)
    kept = AS_IS.get(demuxer)
    if kept is not None and not has_video and source.stat().st_size <= max_bytes:
        suffix, media_type = kept
        return SpeechAudio(source, f"audio{suffix}", media_type, duration, converted=False)
    _to_mp3(source, target, check_cancelled)
    size = target.stat().st_size
    if size > max_bytes:
        raise InvalidInput(
            f"The audio is too long to transcribe in one request: {duration / 60:.0f} minutes "
            f"make {size / 1e6:.1f} MB even as compact speech audio, over the service's limit "
            f"of {max_bytes / 1e6:.0f} MB. Split it into shorter parts."
        )
    # The source's length: the encoder's padding is not the speaker's.
    return SpeechAudio(target, "audio.mp3", "audio/mpeg", duration, converted=True)


def probe(source: Path) -> tuple[str, bool, float]:
    """The demuxer's name, whether there is a picture, and the audio's length in seconds."""
    try:
        with av.open(str(source), options=INPUT_OPTIONS) as container:
            if not container.streams.audio:
                raise InvalidInput("The input has no sound to transcribe.")
            demuxer = container.format.name.split(",")[0]
            has_video = any(s.type == "video" and not _is_cover(s) for s in container.streams)
            stream = container.streams.audio[0]
            samples = 0
            for frame in container.decode(stream):
                samples += frame.samples
            rate = stream.rate or SPEECH_RATE
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"The input could not be decoded as audio or video: {exc}") from exc
    if samples == 0:
        raise InvalidInput("The input's sound track is empty.")
    return demuxer, has_video, samples / rate


def _is_cover(stream: av.stream.Stream) -> bool:
    """An MP3's or M4A's album art is a one-picture "video" stream: not a video."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _to_mp3(source: Path, target: Path, check_cancelled: Callable[[], None] | None) -> None:
    """The first audio track, as mono 16 kHz MP3, one frame at a time."""
    resampler = av.AudioResampler(format="s16p", layout="mono", rate=SPEECH_RATE)
    try:
        with (
            av.open(str(source), options=INPUT_OPTIONS) as container,
            atomic_target(target) as temporary,
            av.open(str(temporary), "w", format="mp3") as out,
        ):
            stream = out.add_stream("libmp3lame", rate=SPEECH_RATE, layout="mono")
            stream.bit_rate = SPEECH_BIT_RATE
            for index, frame in enumerate(container.decode(audio=0)):
                if check_cancelled is not None and index % CANCEL_CHECK_FRAMES == 0:
                    check_cancelled()
                for part in resampler.resample(frame):
                    part.pts = None
                    out.mux(stream.encode(part))
            for part in resampler.resample(None):
                part.pts = None
                out.mux(stream.encode(part))
            out.mux(stream.encode(None))
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"The input's sound could not be re-encoded: {exc}") from exc
