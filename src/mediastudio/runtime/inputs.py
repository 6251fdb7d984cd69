"""How engines receive user-supplied inputs, as local files in the job's work directory.

Three kinds of reference reach :meth:`SafeFetcher.fetch`:

- ``file_…``: a file the account uploaded (``POST /api/v1/files``), resolved to its storage key
  before the engine starts, so only the job's own account and mode can name it;
- a signed URL of this server's own ``/files/…`` (an earlier output, chained into a new job):
  read straight from storage when its signature is valid and the key is the job's account's;
- anything else: an ``https``/``data:`` URL, fetched through the SSRF-safe fetcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from mediastudio.engines.contract import InvalidInput
from mediastudio.kit.fetch import FetchError, NetPolicy, fetch_input
from mediastudio.kit.storage import Storage, UrlSigner

_COPY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class StoredInputs:
    """What a job may read from storage directly: its account's uploads and signed outputs."""

    account_id: str
    storage: Storage
    signer: UrlSigner
    loop: asyncio.AbstractEventLoop
    uploads: Mapping[str, str] = field(default_factory=dict)  # file id → storage key

    def key_for(self, reference: str) -> str | None:
        if reference.startswith("file_"):
            key = self.uploads.get(reference)
            if key is None:
                raise InvalidInput(f"No uploaded file {reference} in this account.")
            return key
        return self._signed_key(reference)

    def _signed_key(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.path.startswith("/files/"):
            return None
        query = parse_qs(parts.query)
        try:
            expires = int(query["expires"][0])
            signature = query["signature"][0]
        except (KeyError, ValueError, IndexError):
            return None
        key = unquote(parts.path.removeprefix("/files/"))
        if not self.signer.verify(key, expires, signature):
            return None  # not ours (or expired): treat it as any other URL
        if not key.startswith(f"{self.account_id}/"):
            raise InvalidInput("That file URL belongs to another account.")
        return key

    def copy(self, key: str, target: Path) -> Path:
        """Copy from storage, from an engine's worker thread, via the event loop."""
        future = asyncio.run_coroutine_threadsafe(self.storage.copy_to(key, target), self.loop)
        try:
            future.result(_COPY_TIMEOUT_S)
        except FileNotFoundError:
            raise InvalidInput("That file no longer exists.") from None
        return target


class SafeFetcher:
    """The engines' :class:`~mediastudio.engines.contract.InputFetcher`. A reference that cannot
    be fetched safely fails the job with ``invalid_input`` (the user's URL is the problem) and a
    message that says why."""

    def __init__(
        self, workdir: Path, policy: NetPolicy, stored: StoredInputs | None = None
    ) -> None:
        self.workdir = workdir
        self.policy = policy
        self.stored = stored
        self._count = 0

    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        key = self.stored.key_for(url) if self.stored is not None else None
        if key is not None and self.stored is not None:
            self._count += 1
            suffix = Path(key).suffix
            return self.stored.copy(key, self.workdir / f"stored-{self._count}{suffix}")
        if url.startswith("file_"):
            raise InvalidInput(f"No uploaded file {url} in this account.")
        limit = (
            self.policy.max_bytes if max_bytes is None else min(max_bytes, self.policy.max_bytes)
        )
        try:
            return fetch_input(url, self.workdir, replace(self.policy, max_bytes=limit))
        except FetchError as exc:
            raise InvalidInput(str(exc)) from exc
