"""``mediastudio worker``: a process that runs jobs of some pools, apart from the API.

With a broker (``MEDIASTUDIO_BROKER_URL``) it is a Celery worker consuming its pools' queues
(runtime/celery_queue.py); without one it polls the database: its sweeper offers the queued jobs
of its pools to in-process workers every ``sweep_interval_s``. Either way the job is claimed in
the database under a lease (``JobRunner.run``), the process also sweeps (expired leases are
re-offered: the sweeper is the reaper of a killed worker's jobs) and sends webhooks, and every
second it stops the engines of jobs cancelled through the API, which runs in another process
(``JobRunner.stop_unheld``): the database is polled rather than a cancel message broadcast,
since the worker already reads and writes the rows it leases and a poll cannot be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from mediastudio.engines.contract import REMOTE_POOL
from mediastudio.generations import repository
from mediastudio.migrations import upgrade
from mediastudio.platform import Platform
from mediastudio.runtime.celery_queue import TASK, queue_name
from mediastudio.runtime.dispatch import DEFER_DELAY_S, REMOTE_THREADS
from mediastudio.runtime.runner import RunResult, wait_for_event
from mediastudio.settings import Settings

logger = logging.getLogger("mediastudio.worker")

T = TypeVar("T")
CANCEL_POLL_S = 1.0


def run_worker(settings: Settings, slots: Mapping[str, int]) -> int:
    """Run until SIGTERM or SIGINT (a graceful stop: running jobs go back to the queue). ``slots``:
    how many jobs of each pool run at once. Returns the exit code."""
    if settings.broker_url:
        return _CeleryWorker(settings, slots).run()
    return asyncio.run(_poll_database(settings, slots))


async def _watch_cancels(platform: Platform, stop: asyncio.Event) -> None:
    while not await wait_for_event(stop, CANCEL_POLL_S):
        try:
            await platform.runner.stop_unheld()
        except Exception:
            logger.exception("checking for cancelled jobs failed; trying again")


async def _poll_database(settings: Settings, slots: Mapping[str, int]) -> int:
    sized = settings.model_copy(update={f"workers_{pool}": count for pool, count in slots.items()})
    platform = Platform.build(sized, pools=slots.keys())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await upgrade(platform.db)
        await platform.start_workers()
        logger.info(
            "worker %s polling the database for %s", platform.runner.worker_id, _names(slots)
        )
        await _watch_cancels(platform, stop)
    finally:
        await platform.close()
    return 0


class _CeleryWorker:
    """A Celery worker (thread pool, one thread per slot) in the main thread; the platform (the
    runner, sweeper, webhook sender and database) on an asyncio loop in a second thread. A task
    hands its job to the loop and waits: the Celery thread is the slot, the engine runs in its
    pool's executor as in-process."""

    def __init__(self, settings: Settings, slots: Mapping[str, int]) -> None:
        self.settings = settings
        self.slots = {pool: count for pool, count in slots.items() if count > 0}
        self.loop = asyncio.new_event_loop()
        self.stopping = threading.Event()
        self.executors = {
            pool: ThreadPoolExecutor(
                min(count, REMOTE_THREADS) if pool == REMOTE_POOL else count,
                thread_name_prefix=f"engine-{pool}",
            )
            for pool, count in self.slots.items()
        }

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def run(self) -> int:
        from celery import signals

        thread = threading.Thread(target=self.loop.run_forever, name="platform", daemon=True)
        thread.start()
        platform = self.call(self._start())
        assert platform.broker is not None
        app = platform.broker.app
        watch_stop = asyncio.Event()
        watch = asyncio.run_coroutine_threadsafe(_watch_cancels(platform, watch_stop), self.loop)

        @app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
        def run_job(generation_id: str, pool: str) -> None:
            result = self.call(platform.runner.run(generation_id, self.executors.get(pool)))
            if result is RunResult.DEFERRED and not self.stopping.is_set():
                # Held back by its account's concurrency cap: offered again shortly, as the
                # in-process dispatcher does.
                time.sleep(DEFER_DELAY_S)
                platform.queue.enqueue(generation_id, pool, again=True)

        def shutting_down(**_: Any) -> None:
            # Warm shutdown waits for running tasks: tell their engines to stop now, so that
            # it takes about the grace period, and their jobs are put back in the queue below.
            self.stopping.set()
            self.loop.call_soon_threadsafe(platform.runner.stop_all)

        signals.worker_shutting_down.connect(shutting_down, weak=False)
        worker = app.Worker(
            hostname=f"mediastudio-{'-'.join(self.slots)}@{socket.gethostname()}-{os.getpid()}",
            queues=[queue_name(self.settings.broker_queue_prefix, pool) for pool in self.slots],
            concurrency=sum(self.slots.values()),
            pool="threads",
            loglevel=self.settings.log_level.upper(),
            without_gossip=True,
            without_mingle=True,
            quiet=True,
        )
        logger.info("worker %s consuming %s", platform.runner.worker_id, _names(self.slots))
        try:
            worker.start()
        finally:
            self.loop.call_soon_threadsafe(watch_stop.set)
            with contextlib.suppress(Exception):
                watch.result()
            self.call(self._stop(platform))
            self.loop.call_soon_threadsafe(self.loop.stop)
            thread.join()
            for executor in self.executors.values():
                executor.shutdown(wait=False, cancel_futures=True)
        return int(worker.exitcode or 0)

    async def _start(self) -> Platform:
        platform = Platform.build(self.settings)
        await upgrade(platform.db)
        await platform.start_workers()
        return platform

    async def _stop(self, platform: Platform) -> None:
        """Put the jobs this worker still holds back in the queue and offer them at once."""
        async with platform.db.read() as session:
            held = await repository.processing_held_by(session, platform.runner.worker_id)
        await platform.runner.requeue_held()
        for generation in held:
            platform.queue.enqueue(generation.id, generation.pool, again=True)
        await platform.close()


def _names(slots: Mapping[str, int]) -> str:
    return ", ".join(f"{pool} x{count}" for pool, count in slots.items())
