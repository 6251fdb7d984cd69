"""One job on a hosted provider, from submission (or resumption) to its final state.

Every provider with asynchronous jobs works the same way — submit, poll the status, cancel —
so this loop is shared and each adapter only speaks its protocol (:class:`RemoteJobs`):

1. If an earlier run of this generation remembered a job on this provider and target, poll
   that job (a restart never submits, and pays, twice). Otherwise build the payload, submit,
   and remember the job's id *before* waiting on it.
2. Poll, slowing down from ``first`` to ``longest`` seconds between polls, reporting the
   provider's progress. Pauses wake up for a cancel within a quarter of a second.
3. When the generation is cancelled, times out or fails while the provider still works on it,
   cancel the provider's job too (best effort, bounded). When the process is only stopping
   (shutdown) or lost the job to another worker, leave it running: the next run resumes it.
4. ``failed`` becomes :class:`InvalidPrompt` when the provider refused the content, else
   :class:`ProviderError`; a job cancelled by someone else is a :class:`ProviderError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mediastudio.engines.contract import (
    RESUMABLE_STOPS,
    InvalidPrompt,
    ProviderError,
    RunContext,
)
from mediastudio.engines.providers.http import Pause

logger = logging.getLogger("mediastudio.providers")

JOB_KEY = "provider_job"  # the checkpoint entry: {"provider", "target", "id"}
CANCEL_CHECK_S = 0.25
CANCEL_TIMEOUT_S = 5.0
# Progress shown while the provider works; fetching the outputs takes the rest.
QUEUED_PROGRESS = 0.05
RUNNING_START, RUNNING_END = 0.1, 0.85

RemoteState = Literal["queued", "running", "succeeded", "failed", "canceled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True)
class RemoteJob:
    """A provider's job as an adapter read it."""

    id: str
    state: RemoteState
    outputs: tuple[str, ...] = ()  # URLs (or data: URIs) of the output files
    error: str | None = None
    refused: bool = False  # failed under the provider's content policy
    progress: float | None = None  # 0..1 when the provider reports it


class RemoteJobs(Protocol):
    """What a provider adapter offers the loop."""

    name: str

    async def submit(self, target: str, payload: dict[str, Any], pause: Pause) -> RemoteJob: ...

    async def status(self, job_id: str, pause: Pause) -> RemoteJob: ...

    async def cancel(self, job_id: str) -> None: ...


@dataclass(frozen=True)
class Polling:
    first: float = 0.5
    longest: float = 5.0
    growth: float = 1.5


def pauser(ctx: RunContext) -> Pause:
    """A sleep that ends early, raising :class:`JobCancelled`, once the job is cancelled."""

    async def pause(seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            ctx.check_cancelled()
            left = deadline - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, CANCEL_CHECK_S))

    return pause


async def run_remote(
    ctx: RunContext,
    jobs: RemoteJobs,
    target: str,
    payload: Callable[[], Awaitable[dict[str, Any]]],
    polling: Polling,
) -> RemoteJob:
    """Run (or resume) this generation's job on ``jobs`` and return it succeeded."""
    pause = pauser(ctx)
    ctx.served_by(jobs.name)
    job = await _resumed(ctx, jobs, target, pause)
    if job is None:
        body = await payload()
        ctx.check_cancelled()
        job = await jobs.submit(target, body, pause)
    try:
        await ctx.remember(JOB_KEY, {"provider": jobs.name, "target": target, "id": job.id})
        job = await _until_done(ctx, jobs, job, pause, polling)
    except BaseException:
        # Cancelled, timed out, or failed while the provider may still be working (polls that
        # kept failing, a crash): nobody will collect that work, so stop paying for it. A
        # shutdown or a lost lease leaves it to the run that resumes it.
        if ctx.cancel_reason not in RESUMABLE_STOPS and job.state not in TERMINAL:
            await _stop(jobs, job.id)
        raise
    return _succeeded(jobs.name, job)


async def _resumed(
    ctx: RunContext, jobs: RemoteJobs, target: str, pause: Pause
) -> RemoteJob | None:
    remembered = ctx.recall(JOB_KEY)
    if not isinstance(remembered, dict):
        return None
    if remembered.get("provider") != jobs.name or remembered.get("target") != target:
        return None  # a job of another route: this run starts its own
    logger.info("%s resumes %s job %s", ctx.generation_id, jobs.name, remembered["id"])
    return await jobs.status(str(remembered["id"]), pause)


async def _until_done(
    ctx: RunContext, jobs: RemoteJobs, job: RemoteJob, pause: Pause, polling: Polling
) -> RemoteJob:
    interval = polling.first
    while job.state not in TERMINAL:
        ctx.progress(_progress(job))
        await pause(interval)
        job = await jobs.status(job.id, pause)
        interval = min(interval * polling.growth, polling.longest)
    ctx.progress(RUNNING_END)
    return job


def _progress(job: RemoteJob) -> float:
    if job.state == "queued":
        return QUEUED_PROGRESS
    return RUNNING_START + (RUNNING_END - RUNNING_START) * (job.progress or 0.0)


async def _stop(jobs: RemoteJobs, job_id: str) -> None:
    """Cancel the provider's job; a failure is logged, never raised (the generation ends
    cancelled, timed out or failed either way)."""
    try:
        async with asyncio.timeout(CANCEL_TIMEOUT_S):
            await jobs.cancel(job_id)
        logger.info("cancelled %s job %s", jobs.name, job_id)
    except Exception as exc:
        logger.warning("could not cancel %s job %s: %s", jobs.name, job_id, exc)
    except asyncio.CancelledError:
        # Stopped again while cancelling remotely: give up on the remote cancel, stop now.
        logger.warning("gave up cancelling %s job %s", jobs.name, job_id)
        raise


def _succeeded(provider: str, job: RemoteJob) -> RemoteJob:
    name = provider.capitalize()
    if job.state == "succeeded":
        return job
    if job.state == "canceled":
        raise ProviderError(f"{name} cancelled the job ({job.id}).")
    reason = job.error or "no reason given"
    if job.refused:
        raise InvalidPrompt(f"{name} refused the request under its content policy: {reason}")
    raise ProviderError(f"{name} failed the job: {reason}")
