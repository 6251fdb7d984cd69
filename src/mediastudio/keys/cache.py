"""The key cache: each request's key lookup without a database transaction, while nothing changed.

Keyed by the SHA-256 of the key (the secret itself is never kept), an entry holds what
authenticating needs (:class:`~mediastudio.keys.repository.Credentials`, the account's plan
included) and the version of the database's change counter (kit/changes.py) read *before* the
row was. An entry is used only while that counter has not moved, so a key revoked, expired early,
rescoped or moved to another plan, by this process or any other sharing the database (the CLI
included), is refused by the very next request. Expiry dates and IP allowlists are checked on
every request against the cached values, as they were against the row.

Belt and braces, an entry is also read again after ``TTL_S``: a process that died between its
commit and its bump of the counter, or a hand edit with the ``sqlite3`` shell, is caught up
within that. Where the database has no counter (PostgreSQL) the cache is off.

Not cached: unknown, revoked or expired keys (each such request still reads the database, so
guessing keys costs what it did), and tokens of event streams (rare, and rechecked anyway).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime

from mediastudio.keys.repository import Credentials
from mediastudio.kit.changes import ChangeCounter

TTL_S = 60.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    credentials: Credentials
    version: tuple[int, int]
    fresh_until: float  # time.monotonic()


class KeyCache:
    def __init__(
        self, changes: ChangeCounter | None, *, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.changes = changes
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}

    def version(self) -> tuple[int, int] | None:
        """The change counter now; read it before the row, and pass it to :meth:`put`."""
        return self.changes.version() if self.changes is not None else None

    def get(self, key_hash: str, version: tuple[int, int] | None) -> Credentials | None:
        entry = self._entries.get(key_hash)
        if entry is None or version is None:
            return None
        if entry.version != version or time.monotonic() >= entry.fresh_until:
            del self._entries[key_hash]
            return None
        return entry.credentials

    def put(self, key_hash: str, credentials: Credentials, version: tuple[int, int] | None) -> None:
        if version is None:
            return
        if len(self._entries) >= self.max_entries and key_hash not in self._entries:
            del self._entries[next(iter(self._entries))]  # the oldest entry
        self._entries[key_hash] = _Entry(credentials, version, time.monotonic() + self.ttl_s)

    def touched(self, key_hash: str, now: datetime) -> None:
        """This process just saved the key's ``last_used_at``: keep the copy in step, so the
        next requests do not save it again (the counter does not watch that column)."""
        entry = self._entries.get(key_hash)
        if entry is not None:
            credentials = replace(entry.credentials, last_used_at=now)
            self._entries[key_hash] = replace(entry, credentials=credentials)
