"""Whether an image file arrived whole, proven from its container structure without decoding its
pixels.

A provider's output is copied over HTTP; what goes wrong in transit is a file cut short (a
connection dropped, a disk filled). Each format says where it ends, and that is checked here:
PNG by walking its chunks to ``IEND`` with every chunk's CRC, JPEG by walking its marker segments
and entropy-coded scans to ``EOI``, WebP by its RIFF size and the chunks inside it. That proves
the whole file is there at a fraction of a decode's cost (a 1024x1024 WebP decodes in about
17 ms; its structure is read in well under one). Corruption *inside* compressed data with an
intact structure is not caught: a transport that delivers the length it promised does not
produce it, and a provider that encodes garbage would produce it with a valid structure anyway.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_READ = 1 << 20


class Incomplete(ValueError):
    """The file's structure ends before the file says it does, or does not hold together."""


def check_whole(path: Path, image_format: str) -> bool:
    """Raise :class:`Incomplete` if the file (of Pillow's ``image_format``) is cut short or its
    structure is broken. Returns False for a format this module cannot judge (the caller then
    decodes it), True when the structure was proven whole."""
    checks = {"PNG": _png, "JPEG": _jpeg, "WEBP": _webp}
    check = checks.get(image_format)
    if check is None:
        return False
    check(path.read_bytes())
    return True


def _png(data: bytes) -> None:
    if not data.startswith(PNG_SIGNATURE):
        raise Incomplete("no PNG signature")
    position = len(PNG_SIGNATURE)
    while True:
        if position + 8 > len(data):
            raise Incomplete("the file ends inside a chunk header")
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 8 + length
        if end + 4 > len(data):
            raise Incomplete(f"the file ends inside its {kind!r} chunk")
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(data[position + 4 : end]) != crc:
            raise Incomplete(f"the {kind!r} chunk fails its CRC")
        if kind == b"IEND":
            return
        position = end + 4


# JPEG markers without a length: start of image, end of image, restarts, and TEM.
_STANDALONE = frozenset({0xD8, 0xD9, 0x01, *range(0xD0, 0xD8)})
_SOS, _EOI = 0xDA, 0xD9


def _jpeg(data: bytes) -> None:
    if not data.startswith(b"\xff\xd8"):
        raise Incomplete("no JPEG start-of-image marker")
    position = 2
    while True:
        position = _next_marker(data, position)
        marker = data[position + 1]
        position += 2
        if marker == _EOI:
            return
        if marker in _STANDALONE:
            continue
        if position + 2 > len(data):
            raise Incomplete("the file ends inside a segment header")
        (length,) = struct.unpack_from(">H", data, position)
        position += length
        if position > len(data):
            raise Incomplete("the file ends inside a segment")
        if marker == _SOS:
            position = _scan_end(data, position)


def _next_marker(data: bytes, position: int) -> int:
    """The position of the next marker at or after ``position`` (fill bytes ``FF`` skipped)."""
    if position >= len(data) or data[position] != 0xFF:
        raise Incomplete("a JPEG segment is not followed by a marker")
    while position + 1 < len(data) and data[position + 1] == 0xFF:
        position += 1
    if position + 1 >= len(data):
        raise Incomplete("the file ends inside a marker")
    return position


def _scan_end(data: bytes, position: int) -> int:
    """Where an entropy-coded scan starting at ``position`` ends: the first ``FF`` that is
    neither a stuffed zero nor a restart marker."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            raise Incomplete("the file ends inside an image scan")
        following = data[position + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            position += 2
        elif following == 0xFF:
            position += 1  # fill bytes before a marker
        else:
            return position


def _webp(data: bytes) -> None:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Incomplete("no RIFF WEBP header")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    if end > len(data):
        raise Incomplete(f"the file holds {len(data)} of the {end} bytes its header promises")
    position = 12
    while position < end:
        if position + 8 > end:
            raise Incomplete("a chunk header is cut short")
        (size,) = struct.unpack_from("<I", data, position + 4)
        position += 8 + size + (size & 1)  # chunks are padded to an even length
        if position > end:
            raise Incomplete("a chunk runs past the end of the file")
