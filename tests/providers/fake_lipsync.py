"""What Sync Labs' lipsync-2 delivers, for the fake fal (``fal-ai/sync-lipsync/v2``) and the
fake Replicate (``sync/lipsync-2``), written from Sync's documentation independently of our
plan: an MP4 at the input video's frame and frame rate whose sound is the input speech, as long
as the ``sync_mode`` makes it (loop, bounce, remap: the speech's length; cut_off: the shorter;
silence: the video's, quiet after the speech). The fake draws flat frames; the sound is the
speech itself, looped or cut to the length, as mono AAC at 48 kHz. Also what VEED's Fabric 1.0
delivers (``veed/fabric-1.0`` on both): :func:`talking_head`."""

from __future__ import annotations

import functools
import io
import math
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps

from mediastudio.engines.media.video import AUDIO_RATE, VideoWriter

SYNC_MODES = ("cut_off", "loop", "bounce", "silence", "remap")


def refusal(video: object, audio: object, sync_mode: object) -> str | None:
    """The provider's validation message for the inputs, or None."""
    if not isinstance(video, str) or not video:
        return "video is required"
    if not isinstance(audio, str) or not audio:
        return "audio is required"
    if sync_mode not in SYNC_MODES:
        return f"sync_mode must be one of the following: {', '.join(SYNC_MODES)}"
    return None


def length(sync_mode: str, video_s: float, audio_s: float) -> float:
    if sync_mode == "cut_off":
        return min(video_s, audio_s)
    if sync_mode == "silence":
        return video_s
    return audio_s


@functools.lru_cache(maxsize=16)
def lipsynced(video: bytes, audio: bytes, sync_mode: str) -> bytes:
    """The MP4 lipsync-2 would hand back for these inputs."""
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = Fraction(stream.average_rate or 25).limit_denominator(1001)
        video_s = float(container.duration or 0) / av.time_base
    speech = _samples(audio)
    seconds = length(sync_mode, video_s, len(speech) / AUDIO_RATE)
    wanted = round(seconds * AUDIO_RATE)
    if sync_mode == "silence":
        sound = np.zeros(wanted, dtype=np.float32)
        sound[: min(wanted, len(speech))] = speech[:wanted]
    else:
        sound = np.resize(speech, wanted)  # cut, or looped when the speech is shorter
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lipsync.mp4"
        with VideoWriter(path, width, height, fps=fps, audio=sound) as writer:
            for index in range(round(seconds * fps)):
                shade = 60 + (index * 7) % 120
                writer.write(np.full((height, width, 3), shade, dtype=np.uint8))
        return path.read_bytes()


def _samples(audio: bytes) -> np.ndarray:
    """The speech as mono float samples at 48 kHz."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    parts = []
    with av.open(io.BytesIO(audio)) as container:
        for frame in container.decode(audio=0):
            parts.extend(part.to_ndarray().reshape(-1) for part in resampler.resample(frame))
        parts.extend(part.to_ndarray().reshape(-1) for part in resampler.resample(None))
    return np.concatenate(parts).astype(np.float32)


# VEED's Fabric 1.0 (fal's and Replicate's veed/fabric-1.0): the image animated to the sound,
# as long as the sound, in the image's shape at the resolution's area (VEED's 16:9 examples:
# 864x480 and 1312x736), sides in 16-pixel steps, 25 fps (assumed: not published).
FABRIC = "veed/fabric-1.0"
FABRIC_AREAS = {"480p": 864 * 480, "720p": 1312 * 736}
FABRIC_FPS = 25


def fabric_refusal(image: object, audio: object, resolution: object) -> str | None:
    if not isinstance(image, str) or not image:
        return "image is required"
    if not isinstance(audio, str) or not audio:
        return "audio is required"
    if resolution not in FABRIC_AREAS:
        return "resolution must be one of the following: 480p, 720p"
    return None


@functools.lru_cache(maxsize=16)
def talking_head(image: bytes, audio: bytes, resolution: str) -> bytes:
    """The MP4 Fabric would hand back for this face and this sound."""
    with Image.open(io.BytesIO(image)) as face:
        across, down = ImageOps.exif_transpose(face).size
    area = FABRIC_AREAS[resolution]
    width = 16 * round(math.sqrt(area * across / down) / 16)
    height = 16 * round(area / math.sqrt(area * across / down) / 16)
    speech = _samples(audio)
    seconds = len(speech) / AUDIO_RATE
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "avatar.mp4"
        with VideoWriter(path, width, height, fps=FABRIC_FPS, audio=speech) as writer:
            for index in range(round(seconds * FABRIC_FPS)):
                shade = 80 + (index * 5) % 100
                writer.write(np.full((height, width, 3), shade, dtype=np.uint8))
        return path.read_bytes()
