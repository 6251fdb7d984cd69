"""Serving stored outputs at signed URLs: no API key, an HMAC signature and an expiry instead.

Files stream from disk with ``Range`` support (video players seek), never loaded whole.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from mediastudio.kit.errors import InvalidSignature, NotFound
from mediastudio.platform import Platform, get_platform

router = APIRouter(tags=["files"])


@router.get("/files/{key:path}")
async def download(
    key: str,
    platform: Annotated[Platform, Depends(get_platform)],
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=64)],
) -> FileResponse:
    """An output file, at the signed URL found in a generation's ``outputs``."""
    if not platform.signer.verify(key, expires, signature):
        raise InvalidSignature()
    try:
        path = platform.storage.local_path(key)
    except ValueError:
        path = None
    if path is None:
        raise NotFound("This file no longer exists.")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=3600", "Accept-Ranges": "bytes"},
    )


router.add_api_route("/files/{key:path}", download, methods=["HEAD"], include_in_schema=False)
