"""Fetching user-supplied inputs.

Every ``*_url`` an engine reads goes through :class:`InputFetcher` implementations here. This
module handles ``data:`` URIs (decoded with size caps). Remote URLs go through the SSRF-safe
HTTP fetcher (resolved-address checks, pinned connections, re-checked redirects), which is a
later issue; until then a remote URL is refused with a clear ``invalid_input`` error instead of
being fetched unsafely.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import uuid
from pathlib import Path
from urllib.parse import unquote_to_bytes

from mediastudio.engines.contract import InvalidInput

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


class DataUriFetcher:
    def __init__(self, workdir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.workdir = workdir
        self.max_bytes = max_bytes

    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        limit = min(max_bytes or self.max_bytes, self.max_bytes)
        if not url.startswith("data:"):
            raise InvalidInput(
                "Only data: URIs can be used as inputs on this server version; remote URLs "
                "need the SSRF-safe fetcher."
            )
        payload = decode_data_uri(url, limit)
        path = self.workdir / f"input-{uuid.uuid4().hex}{payload[1]}"
        path.write_bytes(payload[0])
        return path


def decode_data_uri(url: str, max_bytes: int) -> tuple[bytes, str]:
    """``data:[<type>][;base64],<data>`` → (bytes, file suffix)."""
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise InvalidInput("Malformed data: URI (no comma).")
    media_type, *params = header.split(";")
    # base64 inflates by 4/3: refuse before decoding anything too large.
    if len(data) * 3 // 4 > max_bytes:
        raise InvalidInput(f"The input is larger than {max_bytes} bytes.")
    try:
        raw = (
            base64.b64decode(data, validate=True) if "base64" in params else unquote_to_bytes(data)
        )
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("Malformed base64 in data: URI.") from exc
    if len(raw) > max_bytes:
        raise InvalidInput(f"The input is larger than {max_bytes} bytes.")
    return raw, mimetypes.guess_extension(media_type or "") or ".bin"
