"""One job on a hosted provider, from submission (or resumption) to its final state.

Every provider with asynchronous jobs works the same way — submit, poll the status, cancel —
so this loop is shared and each adapter only speaks its protocol (:class:`RemoteJobs`):

1. If an earlier run of this generation remembered a job on this provider and target, poll
   that job (a restart never submits, and pays, twice). Otherwise build the payload, submit,
   and remember the job's id *before* waiting on it.
2. Poll, slowing down from ``first`` to ``longest`` seconds between polls, reporting the
   provider's progress. Pauses wake up for a cancel within a quarter of a second. A job left
   waiting in the provider's queue beyond ``queue_timeout_s`` (when set) is a
   :class:`ProviderError`, so a model with another route fails over (its job is cancelled).
3. When the generation is cancelled, times out or fails while the provider still works on it,
   cancel the provider's job too (best effort, bounded). When the process is only stopping
   (shutdown) or lost the job to another worker, leave it running: the next run resumes it.
4. ``failed`` becomes :class:`InvalidPrompt` when the provider refused the content,
   :class:`ProviderRejected` (``invalid_input``) when it found the input invalid, else
   :class:`ProviderError`; a job cancelled by someone else is a :class:`ProviderError`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mediastudio.engines.contract import (
    RESUMABLE_STOPS,
    InvalidPrompt,
    ProviderError,
    RunContext,
)
from mediastudio.engines.providers.http import Pause, ProviderRejected, display_name

logger = logging.getLogger("mediastudio.providers")

JOB_KEY = "provider_job"  # the checkpoint entry: {"provider", "target", "id", "submitted_at"}
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
    invalid: bool = False  # failed because the provider found the input invalid
    progress: float | None = None  # 0..1 when the provider reports it


class RemoteJobs(Protocol):
    """What a provider adapter offers the loop."""

    name: str

    async def submit(self, target: str, payload: dict[str, Any], pause: Pause) -> RemoteJob: ...

    # ``target`` is the provider's model id the job was submitted to (fal's URLs need it).
    async def status(self, target: str, job_id: str, pause: Pause) -> RemoteJob: ...

    async def cancel(self, target: str, job_id: str) -> None: ...


@dataclass(frozen=True)
class Polling:
    first: float = 0.5
    longest: float = 5.0
    growth: float = 1.5
    queue_timeout_s: float | None = None  # the longest a job may wait in the provider's queue


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
    remembered = remembered_job(ctx, jobs.name, target)
    if remembered is not None:
        logger.info("%s resumes %s job %s", ctx.generation_id, jobs.name, remembered["id"])
        job = await jobs.status(target, str(remembered["id"]), pause)
        submitted_at = remembered.get("submitted_at") or time.time()
    else:
        body = await payload()
        ctx.check_cancelled()
        submitted_at = time.time()
        job = await jobs.submit(target, body, pause)
    try:
        await ctx.remember(
            JOB_KEY,
            {"provider": jobs.name, "target": target, "id": job.id, "submitted_at": submitted_at},
        )
        job = await _until_done(ctx, jobs, target, job, pause, polling)
    except BaseException:
        # Cancelled, timed out, or failed while the provider may still be working (polls that
        # kept failing, a crash, too long in its queue): nobody will collect that work, so stop
        # paying for it. A shutdown or a lost lease leaves it to the run that resumes it.
        if ctx.cancel_reason not in RESUMABLE_STOPS and job.state not in TERMINAL:
            await _stop(jobs, target, job.id)
        raise
    return _succeeded(jobs.name, job)


def remembered_job(ctx: RunContext, provider: str, target: str) -> dict[str, Any] | None:
    """The job an earlier run of this generation submitted to ``provider``'s ``target``, if
    that is the one it remembers (a job of another route is not this route's to resume)."""
    remembered = ctx.recall(JOB_KEY)
    if not isinstance(remembered, dict) or "id" not in remembered:
        return None
    if remembered.get("provider") != provider or remembered.get("target") != target:
        return None
    return remembered


async def _until_done(
    ctx: RunContext,
    jobs: RemoteJobs,
    target: str,
    job: RemoteJob,
    pause: Pause,
    polling: Polling,
) -> RemoteJob:
    interval = polling.first
    queued_since: float | None = time.monotonic()
    while job.state not in TERMINAL:
        if job.state != "queued":
            queued_since = None  # started: the queue timeout no longer applies
        _check_queue_wait(jobs.name, queued_since, polling.queue_timeout_s)
        ctx.progress(_progress(job))
        await pause(interval)
        job = await jobs.status(target, job.id, pause)
        interval = min(interval * polling.growth, polling.longest)
    ctx.progress(RUNNING_END)
    return job


def _check_queue_wait(provider: str, queued_since: float | None, limit: float | None) -> None:
    if queued_since is not None and limit is not None and time.monotonic() - queued_since > limit:
        raise ProviderError(
            f"{display_name(provider)} kept the job waiting in its queue for more than "
            f"{limit:g} seconds."
        )


def _progress(job: RemoteJob) -> float:
    if job.state == "queued":
        return QUEUED_PROGRESS
    return RUNNING_START + (RUNNING_END - RUNNING_START) * (job.progress or 0.0)


async def _stop(jobs: RemoteJobs, target: str, job_id: str) -> None:
    """Cancel the provider's job; a failure is logged, never raised (the generation ends
    cancelled, timed out or failed either way)."""
    try:
        async with asyncio.timeout(CANCEL_TIMEOUT_S):
            await jobs.cancel(target, job_id)
        logger.info("cancelled %s job %s", jobs.name, job_id)
    except Exception as exc:
        logger.warning("could not cancel %s job %s: %s", jobs.name, job_id, exc)
    except asyncio.CancelledError:
        # Stopped again while cancelling remotely: give up on the remote cancel, stop now.
        logger.warning("gave up cancelling %s job %s", jobs.name, job_id)
        raise


def _succeeded(provider: str, job: RemoteJob) -> RemoteJob:
    name = display_name(provider)
    if job.state == "succeeded":
        return job
    if job.state == "canceled":
        raise ProviderError(f"{name} cancelled the job ({job.id}).")
    reason = job.error or "no reason given"
    if job.refused:
        raise InvalidPrompt(f"{name} refused the request under its content policy: {reason}")
    if job.invalid:
        raise ProviderRejected(f"{name} refused the request: {reason}")
    raise ProviderError(f"{name} failed the job: {reason}")
