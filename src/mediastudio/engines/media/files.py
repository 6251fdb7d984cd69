"""Writing outputs so that a failed or cancelled job never leaves half a file behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CONTENT_TYPES = {
    "png": "image/png",
    "webp": "image/webp",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "mp4": "video/mp4",
    "mid": "audio/midi",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "json": "application/json",
}


def content_type(extension: str) -> str:
    return CONTENT_TYPES.get(extension.lower().lstrip("."), "application/octet-stream")


# The demuxers user media may be read with. Without a list FFmpeg also accepts playlists and
# concat scripts (HLS, DASH, concat, …), whose entries name other files: a user's "video" could
# then pull another account's output from this disk into its own result.
INPUT_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mp3,wav,ogg,flac,aac,mpegts,image2"
INPUT_OPTIONS = {"format_whitelist": INPUT_FORMATS, "protocol_whitelist": "file"}


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it only if the block succeeds."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
