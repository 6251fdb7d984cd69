"""One media type per file extension, for everything the server stores and serves.

A stored file's ``content_type`` (in a generation's ``outputs`` or an upload's record) and the
``Content-Type`` its signed URL is served with both come from :func:`media_type`, so they agree.
Not the standard library's :mod:`mimetypes`: it reads the machine's ``/etc/mime.types``, so it
answers ``audio/x-wav`` on one machine and ``audio/vnd.wave`` on another, and ``audio/sp-midi``
for ``.mid`` — a worker and an API server on two machines would disagree.
"""

from __future__ import annotations

from pathlib import PurePosixPath

OCTET_STREAM = "application/octet-stream"

# The registered (IANA) or most widely understood type of each extension we write or accept.
CONTENT_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "mid": "audio/midi",
    "midi": "audio/midi",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "avi": "video/x-msvideo",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "json": "application/json",
    "txt": "text/plain",
}


def content_type(extension: str) -> str:
    """The type of an extension (``"wav"`` or ``".wav"``); unknown ones are octet streams."""
    return CONTENT_TYPES.get(extension.lower().lstrip("."), OCTET_STREAM)


def media_type(name: str) -> str:
    """The type a stored file (a storage key or a path) is recorded and served with."""
    return content_type(PurePosixPath(name).suffix)
