"""Dispatchers hand committed job ids to workers.

:class:`JobQueue` is what the rest of the platform sees. The in-process dispatcher below runs
workers as asyncio tasks, one group per resource pool (cpu, gpu, io, remote), with a thread pool
each for blocking engine code (a tiny one for ``remote``, whose engines are coroutines that wait
on a provider's network: its hundreds of slots are tasks, not threads). The distributed one
(Celery, runtime/celery_queue.py) implements the same interface. Queues carry ids only; the
database holds the state, so losing a queue loses nothing (the sweeper re-enqueues what is still
queued).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor

from mediastudio.engines.contract import POOLS, REMOTE_POOL
from mediastudio.runtime.runner import JobRunner, RunResult
from mediastudio.settings import Settings

logger = logging.getLogger("mediastudio.dispatch")

# Threads for a sync engine that names the remote pool anyway: its slots are sized for waiting
# coroutines, not for as many threads.
REMOTE_THREADS = 4
# A job held back by its account's concurrency cap is offered again after this delay.
DEFER_DELAY_S = 0.25


class InlineDispatcher:
    """``pools``: the only pools this process runs (``mediastudio worker --pools``); a job of
    another pool is left to the worker that runs it. Default: every pool, and a pool without
    slots hands its jobs to the cpu workers, as the embedded server always did."""

    def __init__(
        self, runner: JobRunner, settings: Settings, pools: Collection[str] | None = None
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.pools = frozenset(pools) if pools is not None else None
        self._queues: dict[str, asyncio.Queue[str]] = {}
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._known: set[str] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._started = False
        self._stopping = False

    def enqueue(self, generation_id: str, pool: str, *, again: bool = False) -> None:
        if generation_id in self._known:
            return
        if self.pools is not None and pool not in self.pools:
            return
        queue = self._queues.get(pool) or self._queues.get("cpu")
        if queue is None:  # this process runs no workers for the pool: another one will
            return
        self._known.add(generation_id)
        queue.put_nowait(generation_id)

    def cancel(self, generation_id: str) -> None:
        self.runner.cancel(generation_id, "cancelled")

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for pool in POOLS:
            count = self.settings.workers_for(pool)
            if count <= 0 or (self.pools is not None and pool not in self.pools):
                continue
            self._queues[pool] = asyncio.Queue()
            threads = min(count, REMOTE_THREADS) if pool == REMOTE_POOL else count
            self._executors[pool] = ThreadPoolExecutor(threads, thread_name_prefix=f"engine-{pool}")
            for index in range(count):
                task = asyncio.create_task(self._work(pool), name=f"worker-{pool}-{index}")
                self._tasks.append(task)

    async def stop(self) -> None:
        """Stop taking jobs, tell running engines to stop, and wait for them (up to the grace
        period) rather than cancelling tasks that may be inside a database transaction. Jobs
        still held afterwards go back to the queue."""
        self._stopping = True
        self.runner.stop_all()
        for task in self._tasks:
            if task not in self._busy:
                task.cancel()  # idle: blocked on queue.get(), no transaction open
        busy = [task for task in self._tasks if task in self._busy]
        if busy:
            _, late = await asyncio.wait(busy, timeout=self.settings.shutdown_grace_s)
            for task in late:
                logger.warning("%s did not stop within the grace period", task.get_name())
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.runner.requeue_held()
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)

    async def _work(self, pool: str) -> None:
        queue = self._queues[pool]
        executor = self._executors[pool]
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            generation_id = await queue.get()
            self._busy.add(me)
            result = RunResult.SKIPPED
            try:
                result = await self.runner.run(generation_id, executor)
            except Exception:
                logger.exception("runner failed on %s", generation_id)
            finally:
                self._busy.discard(me)
                if result is RunResult.DEFERRED and not self._stopping:
                    asyncio.get_running_loop().call_later(
                        DEFER_DELAY_S, queue.put_nowait, generation_id
                    )
                else:
                    self._known.discard(generation_id)
