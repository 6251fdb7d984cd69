"""Rules for uploaded files: sniffed, owned by one account and mode, usable as job inputs.

An upload is referenced in any ``*_url``-style input by its id (``file_…``); the job runner
resolves ids to storage keys before the engine starts (see :mod:`mediastudio.runtime.inputs`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from mediastudio.files import repository
from mediastudio.files.models import StoredFile
from mediastudio.files.sniff import ACCEPTED, SNIFF_BYTES, sniff
from mediastudio.keys.principal import Principal
from mediastudio.keys.service import GENERATE_SCOPES, ensure_any_scope
from mediastudio.kit.db import Database
from mediastudio.kit.disk import DiskGuard
from mediastudio.kit.errors import (
    InsufficientStorage,
    InvalidRequest,
    NotFound,
)
from mediastudio.kit.ids import new_id
from mediastudio.kit.storage import Storage

_FILENAME_UNSAFE = re.compile(r"[^\w.\- ]+")


def clean_filename(name: str | None) -> str:
    base = Path(name or "upload").name
    return (_FILENAME_UNSAFE.sub("_", base).strip() or "upload")[:200]


def _digest(path: Path) -> tuple[str, bytes, int]:
    """SHA-256, the first bytes (for sniffing) and the size, in one pass."""
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        sha.update(head)
        size += len(head)
        while chunk := handle.read(1024 * 1024):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), head, size


class FileService:
    def __init__(self, db: Database, storage: Storage, disk: DiskGuard) -> None:
        self.db = db
        self.storage = storage
        self.disk = disk

    def ensure_room(self, size: int) -> None:
        """Refuse, before reading it, an upload of ``size`` bytes (as declared) that would take
        free space below the floor kept for the work already accepted."""
        if not self.disk.space().room_for(size):
            raise InsufficientStorage()

    async def upload(self, principal: Principal, source: Path, filename: str | None) -> StoredFile:
        """Store ``source`` (a spooled upload on disk) for this account, or refuse it."""
        ensure_any_scope(principal, GENERATE_SCOPES)
        sha256, head, size = await asyncio.to_thread(_digest, source)
        if size == 0:
            raise InvalidRequest("The file is empty.")
        kind = sniff(head)
        if kind is None:
            raise InvalidRequest(
                f"This kind of file is not accepted. Accepted: {ACCEPTED}.",
                details={"fields": [{"field": "file", "message": "unsupported content"}]},
            )
        file_id = new_id("file")
        key = f"{principal.account_id}/uploads/{file_id}{kind.extension}"
        stored_bytes = await self.storage.put_file(key, source)
        stored = StoredFile(
            id=file_id,
            account_id=principal.account_id,
            sandbox=principal.sandbox,
            key=key,
            filename=clean_filename(filename),
            content_type=kind.content_type,
            bytes=stored_bytes,
            sha256=sha256,
        )
        try:
            async with self.db.write() as session:
                await repository.add(session, stored)
        except BaseException:
            await self.storage.delete(key)
            raise
        return stored

    async def get(self, principal: Principal, file_id: str) -> StoredFile:
        async with self.db.read() as session:
            stored = await repository.get(
                session, principal.account_id, file_id, sandbox=principal.sandbox
            )
        if stored is None:
            raise NotFound(f"No file {file_id}.")
        return stored

    async def list(
        self, principal: Principal, *, limit: int, starting_after: str | None
    ) -> Sequence[StoredFile]:
        async with self.db.read() as session:
            return await repository.list_page(
                session,
                principal.account_id,
                sandbox=principal.sandbox,
                limit=limit,
                starting_after=starting_after,
            )

    async def delete(self, principal: Principal, file_id: str) -> None:
        ensure_any_scope(principal, GENERATE_SCOPES)
        stored = await self.get(principal, file_id)
        async with self.db.write() as session:
            await repository.remove(session, stored.id)
        await self.storage.delete(stored.key)

    async def delete_owned(self, account_id: str, sandbox: bool, file_ids: Iterable[str]) -> None:
        """Delete these files of one account and mode (a voice's samples); ids already gone are
        skipped."""
        wanted = set(file_ids)
        if not wanted:
            return
        async with self.db.write() as session:
            keys = await repository.keys_for(session, account_id, wanted, sandbox=sandbox)
            for file_id in keys:
                await repository.remove(session, file_id)
        for key in keys.values():
            await self.storage.delete(key)

    async def check_owned(self, principal: Principal, ids: Iterable[str]) -> None:
        """Refuse, before any credit moves, an input naming a file this key cannot use."""
        wanted = set(ids)
        if not wanted:
            return
        async with self.db.read() as session:
            owned = await repository.keys_for(
                session, principal.account_id, wanted, sandbox=principal.sandbox
            )
        missing = sorted(wanted - owned.keys())
        if not missing:
            return
        async with self.db.read() as session:
            # Uploads live in one mode, like generations; say so rather than "upload it".
            elsewhere = await repository.keys_for(
                session, principal.account_id, missing, sandbox=not principal.sandbox
            )
        if elsewhere:
            file_id = sorted(elsewhere)[0]
            this, other = ("sandbox", "live") if principal.sandbox else ("live", "sandbox")
            raise InvalidRequest(
                f"File {file_id} was uploaded with a {other} key; {this} and {other} data stay "
                f"apart, so upload it again with this {this} key.",
                details={"files": missing, "other_mode": sorted(elsewhere)},
            )
        raise InvalidRequest(
            f"Unknown file {missing[0]}: upload it with POST /api/v1/files first.",
            details={"files": missing},
        )

    async def keys_for(self, account_id: str, sandbox: bool, ids: Iterable[str]) -> dict[str, str]:
        async with self.db.read() as session:
            return await repository.keys_for(session, account_id, set(ids), sandbox=sandbox)
