"""Recovery: nothing stays lost after a crash, a kill or a forgotten queue entry.

Every ``sweep_interval_s`` (and once at start-up):
- a ``processing`` job whose lease expired (its worker died or hung) is queued again, or failed
  and refunded when its attempts are spent;
- at start-up, a job held by a process on this host that no longer exists is released at once,
  without waiting for its lease (a restarted server resumes its own work immediately);
- every ``queued`` job is offered to the dispatcher (which ignores ids it already has);
- expired idempotency records are deleted;
- chat messages left unanswered, and voice clonings left training, by a process that died are
  refunded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.chat import service as chat
from mediastudio.generations import lifecycle, repository
from mediastudio.generations.events import announce
from mediastudio.generations.models import Generation, Status
from mediastudio.idempotency import repository as idempotency
from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import AfterCommit, Database, after_commit
from mediastudio.kit.events import EventBus
from mediastudio.runtime.queue import JobQueue
from mediastudio.runtime.runner import wait_for_event
from mediastudio.settings import Settings
from mediastudio.voices import cloning

logger = logging.getLogger("mediastudio.sweeper")

MAX_OFFERED_PER_SWEEP = 1000


class Sweeper:
    def __init__(
        self,
        db: Database,
        queue: JobQueue,
        settings: Settings,
        worker_id: str,
        bus: EventBus,
        *,
        notify: lifecycle.Notifier,
    ) -> None:
        self.db = db
        self.notify = notify
        self.queue = queue
        self.settings = settings
        self.worker_id = worker_id
        self.bus = bus
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def sweep(self, *, startup: bool = False) -> None:
        now = utcnow()
        async with self.db.write() as session:
            lost = list(await repository.expired_leases(session, now))
            if startup:
                lost += [g for g in await self._held_on_this_host(session) if g not in lost]
            for generation in lost:
                holder = generation.worker_id  # release_lost clears it on the loaded object
                status = await lifecycle.release_lost(
                    session,
                    generation,
                    max_attempts=self.settings.job_max_attempts,
                    notify=self.notify,
                )
                logger.warning("job %s lost by %s: now %s", generation.id, holder, status)
                if status is not None:
                    announce(session, self.bus, generation, status, generation.progress)
                if status is Status.QUEUED:
                    after_commit(session, _offer(self.queue, generation))
            await idempotency.remove_expired(session, now)
            abandoned_since = now - timedelta(seconds=self.settings.chat_abandoned_after_s)
            if refunded := await chat.release_abandoned(session, abandoned_since):
                logger.warning("%d chat messages abandoned by a stopped server: refunded", refunded)
            if refunded := await cloning.release_abandoned(session, abandoned_since):
                logger.warning(
                    "%d voice clonings abandoned by a stopped server: refunded", refunded
                )
        async with self.db.read() as session:
            queued = await repository.queued(session)
        for generation_id, pool in queued[:MAX_OFFERED_PER_SWEEP]:
            self.queue.enqueue(generation_id, pool)

    async def _held_on_this_host(self, session: AsyncSession) -> Sequence[Generation]:
        held = await repository.processing_held_by(session, f"{socket.gethostname()}:")
        return [g for g in held if g.worker_id != self.worker_id and not _alive(g.worker_id)]

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="sweeper")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not await wait_for_event(self._stop, self.settings.sweep_interval_s):
            try:
                await self.sweep()
            except Exception:
                logger.exception("sweep failed; trying again next interval")


def _offer(queue: JobQueue, generation: Generation) -> AfterCommit:
    return lambda: queue.enqueue(generation.id, generation.pool, again=True)


def _alive(worker_id: str | None) -> bool:
    """Whether the process named in ``host:pid:token`` still runs (on this host)."""
    try:
        pid = int((worker_id or "").split(":")[1])
    except (IndexError, ValueError):
        return True  # not ours to judge: leave it to its lease
    if pid == os.getpid():
        return False  # our pid, another token: a previous process that had our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
