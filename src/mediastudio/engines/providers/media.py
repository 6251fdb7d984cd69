"""Media across the provider boundary.

Inputs: a ``first_frame_image`` may be an upload's id, one of our own signed output URLs, an
https URL or a ``data:`` URI. The provider can reach none of the first two (and should not be
sent the user's URL to fetch for us), so every input is read through the job's fetcher (the
SSRF-safe one) and sent inline as a ``data:`` URI; a file above :data:`DATA_URI_MAX_BYTES` is
uploaded to the provider's file API instead (Replicate recommends data URIs under 1 MB).

Outputs: provider URLs expire (Replicate's within an hour), so each output is copied through
the same fetcher into the job's work directory before the job completes, checked to prove it is
the whole media it claims to be (an image's structure read to its end, a video or sound
decoded; size and length measured), and handed to the runner, which stores it
like any engine's output.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import av
from PIL import Image, UnidentifiedImageError

from mediastudio.engines.contract import (
    InputFetcher,
    InvalidInput,
    OutputFile,
    OutputKind,
    ProviderError,
    RunContext,
)
from mediastudio.engines.media import speech_audio
from mediastudio.engines.media.files import INPUT_OPTIONS, content_type
from mediastudio.engines.media.images import (
    MAX_OUTPUT_PIXELS,
    read_header,
    verify_image,
)
from mediastudio.engines.media.video import probe
from mediastudio.engines.providers.http import Pause, display_name
from mediastudio.engines.providers.jobs import RUNNING_END

DATA_URI_MAX_BYTES = 1024 * 1024
OUTPUT_MAX_SECONDS = 3600.0
# The longest video or sound input sent to a provider (lip-sync is priced per job for this much).
MEDIA_INPUT_MAX_S = 30.0
# The request fields that name a video or a sound; every other media field names an image.
INPUT_KINDS = {"video_url": "video", "audio_url": "audio"}
_IMAGE_TYPES = {
    "PNG": ("image/png", ".png"),
    "JPEG": ("image/jpeg", ".jpg"),
    "WEBP": ("image/webp", ".webp"),
    "GIF": ("image/gif", ".gif"),
}
_IMAGE_SUFFIXES = dict(_IMAGE_TYPES.values())
# FFmpeg's demuxer name → (content type, suffix) of the audio outputs we keep.
_AUDIO_TYPES = {
    "mp3": ("audio/mpeg", ".mp3"),
    "wav": ("audio/wav", ".wav"),
    "ogg": ("audio/ogg", ".ogg"),
    "flac": ("audio/flac", ".flac"),
    "aac": ("audio/aac", ".aac"),
    "mov": ("audio/mp4", ".m4a"),  # an MP4 audio file (a generic Replicate music model's M4A)
}


@dataclass(frozen=True)
class Delivered:
    """One output a synchronous provider answered with: its bytes, or a URL to copy them from."""

    data: bytes | None = None
    url: str | None = None
    suffix: str = ""  # what the request asked for (``.mp3``); the file's content decides


class Uploader(Protocol):
    async def upload(self, filename: str, data: bytes, media_type: str, pause: Pause) -> str:
        """Store a file with the provider; returns the URL its models read it from."""
        ...


async def input_reference(
    ctx: RunContext,
    reference: str,
    uploader: Uploader,
    pause: Pause,
    field: str = "first_frame_image",
) -> str:
    """A media input (the request's ``field``: an image, or a video or a sound for the fields
    of :data:`INPUT_KINDS`) the provider can read: a ``data:`` URI, or a URL of the provider's
    own file storage for a large file."""
    path = await asyncio.to_thread(ctx.fetcher.fetch, reference)
    return await file_reference(path, field, uploader, pause)


async def file_reference(path: Path, field: str, uploader: Uploader, pause: Pause) -> str:
    """A local file (an input fetched, or a step's output) as :func:`input_reference` sends
    it, checked as the kind its field names."""
    media_type, suffix = await asyncio.to_thread(input_type, path, field)
    data = await asyncio.to_thread(path.read_bytes)
    if len(data) <= DATA_URI_MAX_BYTES:
        return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
    return await uploader.upload(f"input{suffix}", data, media_type, pause)


def input_type(path: Path, field: str) -> tuple[str, str]:
    """The input's real media type and suffix, read from its content and checked as the kind
    its field names (a video must have a picture, a sound must be one, neither longer than
    :data:`MEDIA_INPUT_MAX_S`): refused here rather than by the provider, after the credits
    were reserved."""
    kind = INPUT_KINDS.get(field, "image")
    if kind == "video":
        video = input_video(path, field)
        return video.media_type, video.suffix
    if kind == "audio":
        audio = input_audio(path, field)
        return audio.media_type, audio.suffix
    media_type = image_type(path, field)
    return media_type, image_suffix(media_type)


@dataclass(frozen=True)
class InputMedia:
    """A video or a sound input, checked: what it is and how long."""

    media_type: str
    suffix: str
    duration_s: float
    width: int = 0
    height: int = 0
    fps: float = 0.0


def input_video(path: Path, field: str) -> InputMedia:
    """A video input: an MP4, QuickTime or WebM file with a picture, at most
    :data:`MEDIA_INPUT_MAX_S` long."""
    try:
        info = probe(path, max_seconds=MEDIA_INPUT_MAX_S)
    except InvalidInput as exc:
        raise InvalidInput(
            f"The {field} is not a video this server can use: {exc.message}"
        ) from exc
    with path.open("rb") as handle:
        head = handle.read(12)
    found = _container_type(head)
    if found is None:
        raise InvalidInput(f"The {field} must be an MP4, QuickTime or WebM video.")
    media_type, suffix = found
    return InputMedia(media_type, suffix, info.duration_s, info.width, info.height, info.fps)


def input_audio(path: Path, field: str) -> InputMedia:
    """A sound input: an audio file (no picture) of one of the types outputs may be, decoded
    to its last sample and at most :data:`MEDIA_INPUT_MAX_S` long."""
    try:
        demuxer, has_video, duration = speech_audio.probe(path)
    except InvalidInput as exc:
        raise InvalidInput(f"The {field} is not audio this server can use: {exc.message}") from exc
    found = _AUDIO_TYPES.get(demuxer)
    if found is None or has_video:
        raise InvalidInput(f"The {field} must be a WAV, MP3, Ogg, FLAC, AAC or M4A sound file.")
    if duration > MEDIA_INPUT_MAX_S:
        raise InvalidInput(
            f"The {field} is {duration:.1f} s long; at most {MEDIA_INPUT_MAX_S:g} s."
        )
    return InputMedia(found[0], found[1], duration)


def _container_type(head: bytes) -> tuple[str, str] | None:
    """A video file's (content type, suffix), from its first bytes."""
    if head[4:8] == b"ftyp" and head[8:12] == b"qt  ":
        return "video/quicktime", ".mov"
    if head[4:8] == b"ftyp":
        return "video/mp4", ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm", ".webm"
    return None


def image_type(path: Path, field: str = "first_frame_image") -> str:
    """The input's real image type (from its content); a file that is no image is the user's
    problem, found here rather than by the provider after the credits are reserved."""
    try:
        with Image.open(path) as image:
            found = _IMAGE_TYPES.get(image.format or "")
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput(f"The {field} is not an image this server can read.") from exc
    if found is None:
        raise InvalidInput(f"The {field} must be a PNG, JPEG, WebP or GIF image.")
    return found[0]


def input_image_size(reference: str, fetcher: InputFetcher, field: str) -> tuple[int, int]:
    """An input image's upright size, refused as the engine refuses it (not an image, or not
    one of the types providers read); for output plans, which run before any provider does."""
    path = fetcher.fetch(reference)
    image_type(path, field)
    header = read_header(path)
    return header.width, header.height


def image_suffix(media_type: str) -> str:
    """The file suffix of one of the input image types :func:`image_type` accepts."""
    return _IMAGE_SUFFIXES[media_type]


async def collect_outputs(ctx: RunContext, provider: str, urls: Sequence[str]) -> None:
    """Copy every output into the job, verified, before the job may complete. They are handed
    over together once all are in: a route that fails halfway leaves none behind for the next
    route's outputs to join."""
    name = display_name(provider)
    if not urls:
        raise ProviderError(f"{name} finished without an output file.")
    copied: list[OutputFile] = []
    for index, url in enumerate(urls):
        ctx.check_cancelled()
        try:
            path = await asyncio.to_thread(ctx.fetcher.fetch, url)
        except InvalidInput as exc:
            raise ProviderError(
                f"Could not copy output {index + 1} from {name}: {exc.message}"
            ) from exc
        copied.append(await asyncio.to_thread(describe, path, ctx.model.kind, name))
        ctx.progress(RUNNING_END + (1.0 - RUNNING_END) * (index + 1) / len(urls))
    for output in copied:
        ctx.add_output(output)


async def keep_delivered(ctx: RunContext, provider: str, delivered: Sequence[Delivered]) -> None:
    """The outputs a synchronous provider answered with: bytes written into the job, URLs
    copied in as :func:`collect_outputs` does; every file verified, all handed over together."""
    name = display_name(provider)
    if not delivered:
        raise ProviderError(f"{name} finished without an output file.")
    copied: list[OutputFile] = []
    for index, item in enumerate(delivered):
        ctx.check_cancelled()
        if item.data is not None:
            path = ctx.output_path(item.suffix or ".bin")
            await asyncio.to_thread(path.write_bytes, item.data)
        else:
            assert item.url is not None
            try:
                path = await asyncio.to_thread(ctx.fetcher.fetch, item.url)
            except InvalidInput as exc:
                raise ProviderError(
                    f"Could not copy output {index + 1} from {name}: {exc.message}"
                ) from exc
        copied.append(await asyncio.to_thread(describe, path, ctx.model.kind, name))
    for output in copied:
        ctx.add_output(output)


def describe(path: Path, kind: OutputKind, provider: str) -> OutputFile:
    """An output file, proven whole and measured; a file that is not the promised media is the
    provider's failure."""
    try:
        if kind == "image":
            return _image(path)
        if kind == "video":
            return _video(path)
        if kind == "audio":
            return _audio(path)
    except InvalidInput as exc:
        raise ProviderError(f"{provider} returned an unreadable {kind}: {exc.message}") from exc
    media_type = mimetypes.guess_type(path.name)[0] or content_type(path.suffix)
    return OutputFile(path, media_type)


def _image(path: Path) -> OutputFile:
    verified = verify_image(path, max_pixels=MAX_OUTPUT_PIXELS)
    media_type, suffix = _IMAGE_TYPES.get(verified.format, (None, None))
    if media_type is None or suffix is None:
        raise InvalidInput("not a PNG, JPEG, WebP or GIF image")
    return OutputFile(
        _renamed(path, suffix), media_type, width=verified.width, height=verified.height
    )


def _video(path: Path) -> OutputFile:
    info = probe(path, max_seconds=OUTPUT_MAX_SECONDS, max_pixels=MAX_OUTPUT_PIXELS)
    with path.open("rb") as handle:
        found = _container_type(handle.read(12))
    if found is None:
        raise InvalidInput("not an MP4, QuickTime or WebM video")
    media_type, suffix = found
    return OutputFile(
        _renamed(path, suffix),
        media_type,
        width=info.width,
        height=info.height,
        duration_s=round(info.duration_s, 3),
    )


def _audio(path: Path) -> OutputFile:
    """Decoded to the last sample (a truncated file fails here, not in a user's player) and
    measured; its type is its container's, whatever the request asked for."""
    try:
        with av.open(str(path), options=INPUT_OPTIONS) as container:
            found = _AUDIO_TYPES.get(container.format.name.split(",")[0])
            if not container.streams.audio or found is None:
                raise InvalidInput("not an MP3, WAV, Ogg, FLAC, AAC or M4A audio file")
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            rate = stream.rate or 1
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"not audio FFmpeg can decode ({exc})") from exc
    if samples == 0:
        raise InvalidInput("an audio file without a single sample")
    media_type, suffix = found
    return OutputFile(_renamed(path, suffix), media_type, duration_s=round(samples / rate, 3))


def _renamed(path: Path, suffix: str) -> Path:
    """The file under the suffix of what it really is (stored outputs keep the suffix)."""
    if path.suffix == suffix:
        return path
    return path.rename(path.with_suffix(suffix))
