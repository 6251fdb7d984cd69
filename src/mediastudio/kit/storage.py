"""Where output files live, and the signed URLs that hand them out.

A :class:`Storage` stores files under keys like ``{account}/{generation}/0.png`` and turns a key
into a URL a client can fetch without an API key until it expires. The local-disk backend signs
its own URLs with HMAC and serves them from ``/files/...``; the S3 backend (kit/s3storage.py) hands
out the same signed URLs, and ``/files/...`` redirects them to a short-lived presigned URL on the
bucket (:meth:`Storage.direct_url`). Files are moved or streamed, never read whole.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlparse

if TYPE_CHECKING:
    from mediastudio.kit.s3storage import S3Options


# What one read of a streamed file hands over: large enough that a thread hop per chunk is
# cheap, small enough that many downloads at once stay small in memory.
READ_CHUNK = 256 * 1024


class StorageUnreachable(RuntimeError):
    """The configured storage cannot be used (start-up stops with the reason)."""


class Storage(Protocol):
    async def ensure_reachable(self) -> None:
        """Raise :class:`StorageUnreachable` with the reason when the storage cannot be used
        (start-up: a wrong bucket or key stops the server instead of failing every job)."""
        ...

    async def put_file(self, key: str, source: Path) -> int:
        """Take ownership of ``source`` (it may be moved) and store it under ``key``."""
        ...

    async def delete_prefix(self, prefix: str) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def copy_to(self, key: str, target: Path) -> int:
        """Copy the stored file to ``target`` on this machine; returns its size."""
        ...

    async def size(self, key: str) -> int | None:
        """The stored file's size in bytes; ``None`` when there is no such file."""
        ...

    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of the stored file, streamed in chunks."""
        ...

    def url(self, key: str, *, base_url: str, ttl_s: int) -> str:
        """The platform's signed ``/files/...`` URL, valid ``ttl_s`` seconds."""
        ...

    def direct_url(self, key: str, *, ttl_s: int | None = None) -> str | None:
        """A short-lived URL on the backend itself (an object store's presigned GET, which
        serves ``Range``), valid the backend's own few minutes or ``ttl_s`` if shorter; or
        ``None`` when the API serves the bytes (local disk)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file on this machine's disk, when the backend has one (for ranged responses).
        ``None`` on an object store: a caller that needs a file uses :meth:`copy_to`."""
        ...


def check_key(key: str) -> str:
    """Refuse keys that could escape the storage root."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"invalid storage key: {key!r}")
    return key


class UrlSigner:
    """HMAC-SHA256 over ``key`` and expiry; verification is constant-time."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, key: str, expires: int, signature: str, *, now: float | None = None) -> bool:
        if expires < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self.signature(key, expires), signature)


class LocalStorage:
    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.signer = signer
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def ensure_reachable(self) -> None:
        return None  # the folder was made (or refused) in __init__

    async def put_file(self, key: str, source: Path) -> int:
        return await asyncio.to_thread(self._put_file, key, source)

    def _put_file(self, key: str, source: Path) -> int:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # A rename when on the same filesystem, a streamed copy otherwise.
        shutil.move(str(source), target)
        return target.stat().st_size

    async def delete_prefix(self, prefix: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self._path(prefix.rstrip("/")), True)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def copy_to(self, key: str, target: Path) -> int:
        def copy() -> int:
            shutil.copyfile(self._path(key), target)
            return target.stat().st_size

        return await asyncio.to_thread(copy)

    async def size(self, key: str) -> int | None:
        def stat() -> int | None:
            path = self.local_path(key)
            return None if path is None else path.stat().st_size

        return await asyncio.to_thread(stat)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        with await asyncio.to_thread(self._path(key).open, "rb") as file:
            await asyncio.to_thread(file.seek, start)
            left = end - start
            while left > 0:
                chunk = await asyncio.to_thread(file.read, min(READ_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def url(self, key: str, *, base_url: str, ttl_s: int) -> str:
        return self.signed_url(self.signer, key, base_url=base_url, ttl_s=ttl_s)

    @staticmethod
    def signed_url(signer: UrlSigner, key: str, *, base_url: str, ttl_s: int) -> str:
        """The ``/files/...`` URL every backend hands out (the S3 one redirects it)."""
        expires = int(time.time()) + ttl_s
        signature = signer.signature(key, expires)
        return f"{base_url.rstrip('/')}/files/{quote(key)}?expires={expires}&signature={signature}"

    def direct_url(self, key: str, *, ttl_s: int | None = None) -> str | None:
        return None

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None


def storage_from_url(url: str, signer: UrlSigner, s3: S3Options | None = None) -> Storage:
    """``file:///path`` (local disk) or ``s3://bucket/prefix`` (with ``s3``'s endpoint and
    credentials; the s3 extra)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(os.path.expanduser(parsed.path)), signer)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"storage URL {url!r} names no bucket (s3://bucket/prefix)")
        try:
            from mediastudio.kit.s3storage import S3Options, S3Storage
        except ImportError as exc:  # boto3 missing
            raise ValueError(
                "s3:// storage needs the s3 extra: pip install 'mediastudio[s3]'"
            ) from exc
        return S3Storage(parsed.netloc, parsed.path, signer, s3 or S3Options())
    raise ValueError(
        f"unsupported storage URL scheme {parsed.scheme!r} (supported: file://, s3://)"
    )
