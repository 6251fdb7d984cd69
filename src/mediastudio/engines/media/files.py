"""Writing outputs so that a failed or cancelled job never leaves half a file behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The server's one table: what an engine declares is what the file's URL is served with.
from mediastudio.kit.mediatypes import CONTENT_TYPES, content_type

__all__ = ["CONTENT_TYPES", "INPUT_FORMATS", "INPUT_OPTIONS", "atomic_target", "content_type"]


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
