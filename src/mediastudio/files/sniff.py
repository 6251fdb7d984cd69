"""What an uploaded file really is, from its first bytes, never from its name or the client's
Content-Type (a ``.png`` that is an HTML page must not be served back as an image)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    content_type: str
    extension: str


_PNG = Kind("image/png", ".png")
_JPEG = Kind("image/jpeg", ".jpg")
_GIF = Kind("image/gif", ".gif")
_WEBP = Kind("image/webp", ".webp")
_BMP = Kind("image/bmp", ".bmp")
_TIFF = Kind("image/tiff", ".tiff")
_MP4 = Kind("video/mp4", ".mp4")
_MOV = Kind("video/quicktime", ".mov")
_WEBM = Kind("video/webm", ".webm")
_AVI = Kind("video/x-msvideo", ".avi")
_WAV = Kind("audio/wav", ".wav")
_MP3 = Kind("audio/mpeg", ".mp3")
_OGG = Kind("audio/ogg", ".ogg")
_FLAC = Kind("audio/flac", ".flac")
_M4A = Kind("audio/mp4", ".m4a")
_SRT = Kind("application/x-subrip", ".srt")
_VTT = Kind("text/vtt", ".vtt")

SNIFF_BYTES = 64


def sniff(head: bytes) -> Kind | None:
    """The kind of a file from its first :data:`SNIFF_BYTES` bytes; ``None`` if not accepted."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if head.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _WAV
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return _AVI
    if head.startswith(b"BM"):
        return _BMP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _TIFF
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return _MOV
        if brand in (b"M4A ", b"M4B "):
            return _M4A
        return _MP4
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _WEBM
    if head.startswith(b"OggS"):
        return _OGG
    if head.startswith(b"fLaC"):
        return _FLAC
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return _MP3
    return _text_kind(head)


def _text_kind(head: bytes) -> Kind | None:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"WEBVTT"):
        return _VTT
    # SRT: a cue number, then a "00:00:01,000 --> …" line.
    lines = text.splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit() and b"-->" in lines[1]:
        return _SRT
    return None


ACCEPTED = (
    "PNG, JPEG, GIF, WebP, BMP, TIFF images; MP4, MOV, WebM, AVI videos; "
    "WAV, MP3, Ogg, FLAC, M4A audio; SRT and WebVTT subtitles"
)
