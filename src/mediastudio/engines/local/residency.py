"""Loaded models kept warm on their device, within a memory budget.

A pipeline takes seconds to minutes to load and gigabytes to hold, so the engine keeps the ones
it loaded (:class:`Residency`) and serves later jobs from memory. Three rules:

- **Single flight**: the first job that asks for a model loads it; jobs asking for the same
  model meanwhile wait for that load rather than start their own (ten jobs at once: one load).
  A failed load is reported to every waiter and forgotten, so the next job tries again.
- **Budget**: the loaded models' sizes add up to at most ``budget_bytes``. Before a load, the
  least recently used models not in use are evicted until the new model's estimate fits;
  after it, until its measured size fits. A model in use is never evicted, and a model larger
  than the whole budget is still loaded (alone), since refusing it would make it unusable.
- **Release**: an evicted model is handed to ``release`` (the engine frees device memory).

Pure Python and thread-safe: engines' ``run`` runs in worker threads.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger("mediastudio.engines.local")

T = TypeVar("T")
WAIT_SLICE_S = 0.2  # how often a job waiting on another's load checks whether it was cancelled


@dataclass
class _Entry(Generic[T]):
    size: int  # the estimate until loaded, then the measured size
    value: T | None = None
    users: int = 0
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class Residency(Generic[T]):
    def __init__(
        self, budget_bytes: int, *, release: Callable[[T], None] = lambda value: None
    ) -> None:
        self.budget_bytes = budget_bytes
        self._release = release
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()  # least recently used first
        self.loads = 0  # how many loads started (a test counts them)

    def resident(self) -> list[str]:
        """The loaded models, least recently used first."""
        with self._lock:
            return [key for key, entry in self._entries.items() if entry.value is not None]

    def used_bytes(self) -> int:
        with self._lock:
            return sum(entry.size for entry in self._entries.values())

    @contextmanager
    def use(
        self,
        key: str,
        load: Callable[[], tuple[T, int]],
        *,
        estimate: int,
        should_stop: Callable[[], None] = lambda: None,
    ) -> Iterator[T]:
        """The model ``key``, loaded by ``load`` (returning it and its size) unless it is
        resident or being loaded; pinned (never evicted) until the block ends. ``should_stop``
        is called while waiting on another job's load and may raise to give up waiting."""
        entry, loader = self._claim(key, estimate)
        try:
            if loader:
                self._load(key, entry, load)
            else:
                while not entry.ready.wait(WAIT_SLICE_S):
                    should_stop()
                if entry.error is not None:
                    raise entry.error
            assert entry.value is not None
            yield entry.value
        finally:
            with self._lock:
                entry.users -= 1
            self._evict()

    def clear(self) -> list[str]:
        """Release every model not in use (the engine is closing, or memory ran out); the
        models released."""
        return self._evict(limit=0)

    def _claim(self, key: str, estimate: int) -> tuple[_Entry[T], bool]:
        with self._lock:
            entry = self._entries.get(key)
            loader = entry is None
            if entry is None:
                entry = _Entry(size=estimate)
                self._entries[key] = entry
                self.loads += 1
            entry.users += 1
            self._entries.move_to_end(key)
            return entry, loader

    def _load(self, key: str, entry: _Entry[T], load: Callable[[], tuple[T, int]]) -> None:
        try:
            self._evict()  # room for the estimate before the weights arrive
            value, size = load()
        except BaseException as exc:
            with self._lock:
                entry.error = exc
                if self._entries.get(key) is entry:
                    del self._entries[key]
            entry.ready.set()
            raise
        with self._lock:
            entry.value, entry.size = value, size
        entry.ready.set()
        logger.info("loaded %s (%d MiB)", key, size // 2**20)
        self._evict()

    def _evict(self, limit: int | None = None) -> list[str]:
        budget = self.budget_bytes if limit is None else limit
        evicted: list[tuple[str, T]] = []
        with self._lock:
            total = sum(entry.size for entry in self._entries.values())
            for key, entry in list(self._entries.items()):
                if total <= budget:
                    break
                if entry.users == 0 and entry.value is not None:
                    del self._entries[key]
                    total -= entry.size
                    evicted.append((key, entry.value))
        for key, value in evicted:  # outside the lock: freeing device memory takes a moment
            logger.info("evicted %s to stay within the memory budget", key)
            self._release(value)
        return [key for key, _ in evicted]
