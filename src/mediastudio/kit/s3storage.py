"""Output and upload files in an S3 bucket (AWS or any S3-compatible server): a :class:`Storage`.

boto3 runs in worker threads (``asyncio.to_thread``): its transfer manager streams a file from
disk in parts (multipart above a threshold) and downloads to a temporary file that is renamed
into place, so no file is ever held whole in memory (docs/dependencies.md says why not aioboto3).

Downloads keep the platform's contract: :meth:`S3Storage.url` is the same HMAC-signed
``/files/...`` URL as on local disk; that route checks the signature and redirects to a
short-lived presigned GET on the bucket (see :meth:`S3Storage.direct_url`), which serves ``Range``
itself, so the API never carries the bytes; or, with ``downloads="proxy"`` (a bucket clients
cannot reach), streams the asked range from the bucket (:meth:`S3Storage.read`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from mediastudio.kit.mediatypes import media_type
from mediastudio.kit.storage import (
    READ_CHUNK,
    LocalStorage,
    StorageUnreachable,
    UrlSigner,
    check_key,
)

logger = logging.getLogger(__name__)

# S3 deletes at most this many keys per DeleteObjects request.
_DELETE_BATCH = 1000


@dataclass(frozen=True)
class S3Options:
    endpoint_url: str | None = None
    public_endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    addressing_style: str = "auto"
    download_ttl_s: int = 300
    multipart_threshold_bytes: int = 16 * 1024 * 1024
    multipart_part_bytes: int = 16 * 1024 * 1024
    downloads: str = "redirect"


def _client(options: S3Options, endpoint_url: str | None) -> Any:
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": options.addressing_style},
        retries={"mode": "standard", "max_attempts": 4},
        # A wrong or unreachable endpoint fails in seconds, not after botocore's 60 s.
        connect_timeout=10,
        # Uploads run several parts at once and many jobs store at once.
        max_pool_connections=32,
    )
    # A session per storage: boto3's default session is shared mutable state.
    session = boto3.session.Session(
        aws_access_key_id=options.access_key_id,
        aws_secret_access_key=options.secret_access_key,
        region_name=options.region,
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def _missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Keys live under ``prefix/`` in ``bucket``; the client is thread-safe and shared."""

    def __init__(self, bucket: str, prefix: str, signer: UrlSigner, options: S3Options) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.signer = signer
        self.options = options
        self._client = _client(options, options.endpoint_url)
        # Presigning is local arithmetic, so a second client for the public address costs
        # nothing per request.
        public = options.public_endpoint_url
        self._presigner = self._client if public is None else _client(options, public)
        self._transfer = TransferConfig(
            multipart_threshold=options.multipart_threshold_bytes,
            multipart_chunksize=options.multipart_part_bytes,
            max_concurrency=4,
        )

    async def ensure_reachable(self) -> None:
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)
        except Exception as exc:  # botocore's errors: refused, timeouts, 403, 404
            where = self.options.endpoint_url or "AWS"
            raise StorageUnreachable(
                f"S3 bucket {self.bucket!r} at {where} cannot be used ({exc}); check "
                "MEDIASTUDIO_STORAGE_URL and MEDIASTUDIO_STORAGE__* (endpoint, region, keys)."
            ) from exc

    def _object(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put_file(self, key: str, source: Path) -> int:
        return await asyncio.to_thread(self._put_file, key, source)

    def _put_file(self, key: str, source: Path) -> int:
        size = source.stat().st_size
        self._client.upload_file(
            str(source),
            self.bucket,
            self._object(key),
            ExtraArgs={"ContentType": media_type(key)},
            Config=self._transfer,
        )
        # put_file takes ownership of the source, as the local backend's move does.
        source.unlink(missing_ok=True)
        return size

    async def delete(self, key: str) -> None:
        name = self._object(key)
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=name)

    async def delete_prefix(self, prefix: str) -> None:
        # A "folder": the trailing slash keeps account/gen_1 from taking account/gen_10 along.
        await asyncio.to_thread(self._delete_prefix, self._object(prefix.rstrip("/")) + "/")

    def _delete_prefix(self, prefix: str) -> None:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            names = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(names), _DELETE_BATCH):
                batch = names[start : start + _DELETE_BATCH]
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                for error in answer.get("Errors", []):
                    logger.warning("could not delete s3 object %s: %s", error.get("Key"), error)

    async def copy_to(self, key: str, target: Path) -> int:
        return await asyncio.to_thread(self._copy_to, key, target)

    def _copy_to(self, key: str, target: Path) -> int:
        try:
            self._client.download_file(
                self.bucket, self._object(key), str(target), Config=self._transfer
            )
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"no stored file {key!r}") from exc
            raise
        return target.stat().st_size

    async def size(self, key: str) -> int | None:
        return await asyncio.to_thread(self._size, key)

    def _size(self, key: str) -> int | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        if end <= start:
            return
        try:
            answer = await asyncio.to_thread(
                self._client.get_object,
                Bucket=self.bucket,
                Key=self._object(key),
                Range=f"bytes={start}-{end - 1}",
            )
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"no stored file {key!r}") from exc
            raise
        body = answer["Body"]
        try:
            chunks = body.iter_chunks(READ_CHUNK)
            while chunk := await asyncio.to_thread(next, chunks, b""):
                yield chunk
        finally:
            body.close()

    def url(self, key: str, *, base_url: str, ttl_s: int) -> str:
        # The platform's own signed URL, as on local disk: its lifetime, its 403 and 404 stay
        # the API's, and the object store's short-lived URL is only made when it is fetched.
        return LocalStorage.signed_url(self.signer, key, base_url=base_url, ttl_s=ttl_s)

    def direct_url(self, key: str, *, ttl_s: int | None = None) -> str | None:
        if self.options.downloads == "proxy":
            return None  # the API streams from the bucket (read) instead
        return str(
            self._presigner.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._object(key)},
                ExpiresIn=min(ttl_s or self.options.download_ttl_s, self.options.download_ttl_s),
            )
        )

    def local_path(self, key: str) -> Path | None:
        return None
