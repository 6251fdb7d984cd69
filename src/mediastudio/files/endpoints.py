"""Files over HTTP: uploads (``/api/v1/files``, API key) and downloads of stored files at
signed URLs (``/files/…``: no API key, an HMAC signature and an expiry instead).

Uploads stream to disk under a hard cap; downloads stream from disk with ``Range`` support
(video players seek). Neither is ever loaded whole into memory.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from mediastudio.files.models import StoredFile
from mediastudio.files.responses import StoredFileResponse, single_range
from mediastudio.files.schemas import FileList, FileRead
from mediastudio.files.sniff import ACCEPTED
from mediastudio.keys.auth import ControllingPrincipal, CreatingPrincipal, ReadPrincipal
from mediastudio.keys.principal import Principal
from mediastudio.kit.disk import is_disk_full
from mediastudio.kit.errors import (
    ERROR_RESPONSES,
    ErrorEnvelope,
    FileTooLarge,
    InsufficientStorage,
    InvalidRequest,
    InvalidSignature,
    NotFound,
)
from mediastudio.kit.mediatypes import media_type
from mediastudio.platform import Platform, get_platform

router = APIRouter(tags=["files"])
PlatformDep = Annotated[Platform, Depends(get_platform)]
MULTIPART_OVERHEAD = 64 * 1024  # the form's boundaries and headers around the file
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "minLength": 1,
                            "description": f"{ACCEPTED}; the type is read from the file's "
                            "first bytes, never from its name",
                        }
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}


def _read_model(request: Request, platform: Platform, stored: StoredFile) -> FileRead:
    url = platform.signed_urls(str(request.base_url))(stored.key)
    return FileRead(
        id=stored.id,
        filename=stored.filename,
        content_type=stored.content_type,
        bytes=stored.bytes,
        sha256=stored.sha256,
        sandbox=stored.sandbox,
        url=url,
        created_at=stored.created_at,
    )


def _spool(source: IO[bytes], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    source.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)


@router.post(
    "/api/v1/files",
    status_code=201,
    response_model=FileRead,
    summary="Upload a file to use as a job input",
    openapi_extra=_UPLOAD_BODY,
    responses={
        **ERROR_RESPONSES,
        413: {"model": ERROR_RESPONSES[400]["model"], "description": "file_too_large"},
        507: {
            "model": ERROR_RESPONSES[400]["model"],
            "description": "insufficient_storage (the server is low on disk; Retry-After)",
        },
    },
)
async def upload(request: Request, platform: PlatformDep, principal: CreatingPrincipal) -> FileRead:
    """``multipart/form-data`` with one ``file`` part. The type is sniffed from the content; the
    returned ``id`` (``file_…``) can be given as any ``*_url`` input of this account's jobs."""
    # The whole body is capped by the edge middleware (kit/edge.py); the file by store_upload.
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("Send the file as multipart/form-data with a 'file' part.")
    declared = request.headers.get("content-length", "")
    platform.files.ensure_room(int(declared) if declared.isdigit() else 0)
    with _full_disk_is_507():
        return await _receive(request, platform, principal)


@contextmanager
def _full_disk_is_507() -> Iterator[None]:
    """A disk that fills while the upload is written (the spool, storage, the database row)
    answers 507 ``insufficient_storage``, not 500: the upload was fine, the server has no room."""
    try:
        yield
    except Exception as exc:
        if is_disk_full(exc):
            raise InsufficientStorage() from exc
        raise


async def _receive(request: Request, platform: Platform, principal: Principal) -> FileRead:
    async with request.form(max_files=1, max_fields=8) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise InvalidRequest(
                "A 'file' part is required.",
                details={"fields": [{"field": "file", "message": "required"}]},
            )
        stored = await store_upload(platform, principal, part)
    return _read_model(request, platform, stored)


async def store_upload(platform: Platform, principal: Principal, part: UploadFile) -> StoredFile:
    """Keep one received multipart file as this account's upload (``file_…``), usable as any
    job's input; refused over ``upload_max_bytes``. Shared with the OpenAI-compatible
    ``/v1/audio/transcriptions``, whose audio is an upload like any other."""
    limit = platform.settings.upload_max_bytes
    if part.size is not None and part.size > limit:
        raise FileTooLarge(
            f"The upload is larger than {limit:,} bytes.", details={"max_bytes": limit}
        )
    spooled = platform.settings.data_dir / "uploads" / uuid.uuid4().hex
    with _full_disk_is_507():
        try:
            await asyncio.to_thread(_spool, part.file, spooled)
            return await platform.files.upload(principal, spooled, part.filename)
        finally:
            spooled.unlink(missing_ok=True)


@router.get(
    "/api/v1/files",
    response_model=FileList,
    summary="List uploaded files",
    responses=ERROR_RESPONSES,
)
async def list_files(
    request: Request,
    platform: PlatformDep,
    principal: ReadPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[str | None, Query(max_length=40)] = None,
) -> FileList:
    page = await platform.files.list(principal, limit=limit + 1, starting_after=starting_after)
    items = [_read_model(request, platform, stored) for stored in page[:limit]]
    has_more = len(page) > limit
    return FileList(data=items, has_more=has_more, next_cursor=items[-1].id if has_more else None)


@router.get(
    "/api/v1/files/{file_id}",
    response_model=FileRead,
    summary="An uploaded file",
    responses=ERROR_RESPONSES,
)
async def get_file(
    request: Request, file_id: str, platform: PlatformDep, principal: ReadPrincipal
) -> FileRead:
    return _read_model(request, platform, await platform.files.get(principal, file_id))


@router.delete(
    "/api/v1/files/{file_id}",
    status_code=204,
    summary="Delete an uploaded file",
    responses=ERROR_RESPONSES,
)
async def delete_file(
    file_id: str, platform: PlatformDep, principal: ControllingPrincipal
) -> Response:
    await platform.files.delete(principal, file_id)
    return Response(status_code=204)


_FILE = {"schema": {"type": "string", "format": "binary"}}
_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file, with its own media type", "content": {"*/*": _FILE}},
    206: {"description": "The byte range a Range header asked for", "content": {"*/*": _FILE}},
    307: {
        "description": "On object storage (S3): Location is a presigned URL on the bucket, "
        "valid for minutes, that serves the file and Range requests"
    },
    400: {"model": ErrorEnvelope, "description": "invalid_request: expires or signature missing"},
    403: {"model": ErrorEnvelope, "description": "invalid_signature: wrong or expired"},
    404: {"model": ErrorEnvelope, "description": "not_found: the file no longer exists"},
    416: {
        "model": ErrorEnvelope,
        "description": "range_not_satisfiable: the Range header asks for bytes past the end "
        "(Content-Range says the size)",
    },
}


@router.get(
    "/files/{key:path}",
    summary="Download a stored file (signed URL)",
    response_class=StoredFileResponse,
    responses=_DOWNLOAD_RESPONSES,
)
async def download(
    key: str,
    request: Request,
    platform: Annotated[Platform, Depends(get_platform)],
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=64)],
) -> Response:
    """An output file, at the signed URL found in a generation's ``outputs``. A ``Range``
    header serves part of it (206); a malformed one is ignored (the whole file). On object
    storage (S3) the answer is a 307 to a short-lived presigned URL on the bucket, which
    serves the bytes and the ``Range`` (or, with ``storage.downloads=proxy``, the API streams
    them from the bucket)."""
    if not platform.signer.verify(key, expires, signature):
        raise InvalidSignature()
    try:
        path = platform.storage.local_path(key)
    except ValueError:
        path = None
    if path is None:
        return await _from_object_store(platform, key, expires, request)
    return StoredFileResponse(
        path,
        # The table the runner and uploads record content_type with, so the two agree.
        media_type=media_type(path.name),
        headers={"Cache-Control": "private, max-age=3600", "Accept-Ranges": "bytes"},
    )


router.add_api_route("/files/{key:path}", download, methods=["HEAD"], include_in_schema=False)


async def _from_object_store(
    platform: Platform, key: str, expires: int, request: Request
) -> Response:
    """The signature was checked: send the client to the bucket for the bytes, or stream them
    from it. A missing file is still the API's 404 (an object store would answer in its own
    XML). HEAD is answered here, since a presigned URL is signed for GET only."""
    try:
        size = await platform.storage.size(key)
    except ValueError:  # a key that could escape the storage root
        size = None
    if size is None:
        raise NotFound("This file no longer exists.")
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
    if request.method == "HEAD":
        headers["Content-Length"] = str(size)
        return Response(status_code=200, media_type=media_type(key), headers=headers)
    # Never outliving the signed URL it was made for.
    direct = platform.storage.direct_url(key, ttl_s=max(1, expires - int(time.time())))
    if direct is not None:
        # 307: the client repeats the same GET (with its Range) at the new address. The
        # presigned URL expires within minutes, so the answer must not be cached past it.
        redirect = {"Location": direct, "Cache-Control": "private, no-store"}
        return Response(status_code=307, headers=redirect)
    wanted = single_range(request.headers.get("range"), size)
    if isinstance(wanted, Response):
        return wanted
    start, end = wanted or (0, size)
    headers["Content-Length"] = str(end - start)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        platform.storage.read(key, start, end),
        status_code=200 if wanted is None else 206,
        media_type=media_type(key),
        headers=headers,
    )
