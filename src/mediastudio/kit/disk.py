"""Free space on this machine's data volumes, and whether an exception means "the disk is full".

Running out of space is an expected condition, not a crash. :class:`DiskGuard` watches the
volumes the platform writes to (the data directory, local storage, the SQLite file) and keeps a
floor of free bytes: new work (uploads, creates) is refused while free space is below it, so
the work already accepted, and SQLite's own commits (cancels, refunds, a job's final status),
still have room. The figure is read with ``statvfs`` and cached for a second: the hot path pays
a clock read, not a system call. :func:`is_disk_full` recognises a full disk wherever it was hit
(a file write, PyAV, SQLite's "database or disk is full", PostgreSQL's ``disk_full``), so each
caller can answer for it in its own terms.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mediastudio.kit.exception_chain import any_in_chain

# ENOSPC: no space left; EDQUOT: the user's quota on that volume is spent. Same cure for both.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full
# SQLITE_FULL ("database or disk is full") when a write finds no room; SQLITE_IOERR_SHMSIZE
# ("disk I/O error") when the WAL index cannot grow, e.g. opening the database on a full volume.
_SQLITE_FULL_CODES = frozenset(
    {sqlite3.SQLITE_FULL, getattr(sqlite3, "SQLITE_IOERR_SHMSIZE", 4874)}
)
RETRY_AFTER_S = 60  # space comes back when someone frees it: minutes, not milliseconds
_UNLIMITED = 2**63 - 1  # nothing watched (no local volume): never short of space


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` or anything it was raised from or during is an out-of-space error."""
    return any_in_chain(exc, _is_full)


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    if getattr(exc, "sqlite_errorcode", None) in _SQLITE_FULL_CODES:  # sqlite3.Error
        return True
    return getattr(exc, "sqlstate", None) == _POSTGRES_DISK_FULL  # asyncpg, psycopg


@dataclass(frozen=True)
class DiskSpace:
    """Free bytes on the fullest watched volume, and the floor below which new work stops."""

    free_bytes: int
    min_free_bytes: int

    @property
    def ok(self) -> bool:
        return self.free_bytes >= self.min_free_bytes

    def room_for(self, size: int) -> bool:
        """Whether ``size`` more bytes still leave the floor free."""
        return self.free_bytes - size >= self.min_free_bytes


class DiskGuard:
    """Free space of the volumes under ``paths`` (each counted once), cached for ``ttl_s``."""

    def __init__(
        self,
        paths: Iterable[Path],
        min_free_bytes: int,
        *,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.paths = tuple(dict.fromkeys(paths))
        self.min_free_bytes = min_free_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._cached: DiskSpace | None = None
        self._read_at = 0.0

    def space(self) -> DiskSpace:
        now = self._clock()
        if self._cached is None or now - self._read_at >= self.ttl_s:
            self._cached = DiskSpace(self._free_bytes(), self.min_free_bytes)
            self._read_at = now
        return self._cached

    def forget(self) -> None:
        """Read the volumes again at the next :meth:`space` (e.g. right after a write failed)."""
        self._cached = None

    def _free_bytes(self) -> int:
        free: dict[int, int] = {}
        for path in self.paths:
            existing = _nearest_existing(path)
            stats = os.statvfs(existing)
            # f_bavail: what an unprivileged writer may use (root's reserve does not count).
            free[os.stat(existing).st_dev] = stats.f_bavail * stats.f_frsize
        return min(free.values(), default=_UNLIMITED)


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing ancestor: a volume is known before its folder exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")
