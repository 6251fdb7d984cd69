"""Failover across a model's routes, and the record of every attempt.

:func:`plan` picks the routes a request may take, in the model's order: those whose condition
takes the input, on the pinned provider only when the request names one (``provider``),
without the routes whose provider has no key here, and only the first when the request
forbids fallback (``fallback: false``).

:func:`run_routes` tries them in turn. A route that fails with :class:`ProviderError` — the
provider answered 5xx, timed out, could not be reached, kept rate limiting past the wait
budget, failed or lost the job, kept it queued too long, or delivered outputs that could not
be copied — gives way to the next. Anything else ends the job at once: invalid input and a
content-policy refusal (the next provider would refuse the same request, and a refusal is an
answer), a cancel, a timeout, a shutdown. Credits are the runner's business and settle once,
whichever route served the job.

Each failed attempt is stored with the job (:data:`ATTEMPTS_KEY`, published on the
generation as ``attempts``) before the next begins, so a restart skips the routes that already
failed and resumes the one whose provider job it remembers. The successful one is noted and
stored with the job's end, in the same transaction (no write of its own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from mediastudio.engines.contract import (
    ATTEMPTS_KEY,
    EngineError,
    InvalidInput,
    JobCancelled,
    ProviderError,
    RunContext,
)
from mediastudio.engines.providers.http import display_name
from mediastudio.engines.providers.jobs import remembered_job
from mediastudio.engines.providers.routes import ProviderModel, Route

logger = logging.getLogger("mediastudio.providers")

SUCCEEDED, FAILED_OVER, FAILED = "succeeded", "failed_over", "failed"
_MAX_ERROR = 500


def plan(
    model: ProviderModel,
    validated: BaseModel,
    configured: Collection[str],
    key_settings: dict[str, str],
) -> list[Route]:
    """The routes this request may take, in order (see the module)."""
    pinned: str | None = getattr(validated, "provider", None)
    routes = [
        route
        for route in model.routes
        if route.when(validated) and (pinned is None or route.provider == pinned)
    ]
    if not routes:  # the request's own shape rules them all out (Hailuo on fal needs a prompt)
        raise InvalidInput(
            f"{display_name(pinned)} does not serve {model.spec.id} for this request."
            if pinned
            else f"No provider serves {model.spec.id} for this request."
        )
    runnable = [route for route in routes if route.provider in configured]
    if not runnable:
        missing = dict.fromkeys(key_settings.get(route.provider, "") for route in routes)
        raise ProviderError(
            f"No API key on this server for the provider this request needs: set "
            f"{' or '.join(missing)}."
        )
    return runnable if getattr(validated, "fallback", True) else runnable[:1]


async def run_routes(
    ctx: RunContext, routes: Sequence[Route], attempt: Callable[[Route], Awaitable[None]]
) -> None:
    """Run ``attempt`` on each route in turn until one succeeds (see the module)."""
    record = Attempts(ctx)
    pending = [route for route in routes if not record.failed(route)]
    if not pending:
        raise ProviderError(record.last_error() or "Every provider route failed.")
    for index, route in enumerate(pending):
        ctx.check_cancelled()
        started = record.start(route)
        try:
            await attempt(route)
        except JobCancelled:
            raise  # cancelled, timed out or stopping: not an attempt's outcome
        except ProviderError as exc:
            ctx.check_cancelled()  # the failure may be the cancel's doing: then stop here
            last = index == len(pending) - 1
            await record.add(route, FAILED if last else FAILED_OVER, started, exc)
            if last:
                raise
            logger.warning(
                "%s: %s failed (%s); failing over to %s",
                ctx.generation_id,
                route.name,
                exc.message,
                pending[index + 1].name,
            )
            continue
        except EngineError as exc:
            await record.add(route, FAILED, started, exc)
            raise
        # Noted, not written: the job's end stores it in the same transaction (one write fewer
        # per job), and a rerun before that resumes the provider's job and records it again.
        record.succeeded(route, started)
        return


class Attempts:
    """The job's attempts, as stored with it (an earlier run's included)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        stored = ctx.recall(ATTEMPTS_KEY)
        self.items: list[dict[str, Any]] = (
            [item for item in stored if isinstance(item, dict)] if isinstance(stored, list) else []
        )

    def failed(self, route: Route) -> bool:
        return any(
            item.get("route") == route.name and item.get("outcome") != SUCCEEDED
            for item in self.items
        )

    def last_error(self) -> str | None:
        errors = [item.get("error") for item in self.items if item.get("error")]
        return str(errors[-1]) if errors else None

    def start(self, route: Route) -> float:
        """When this attempt began: now, or when an earlier run submitted the job it resumes."""
        remembered = remembered_job(self.ctx, route.provider, route.target)
        submitted = remembered.get("submitted_at") if remembered else None
        return float(submitted) if isinstance(submitted, int | float) else time.time()

    async def add(
        self, route: Route, outcome: str, started: float, error: EngineError | None
    ) -> None:
        """A failed attempt, stored before going on: a rerun must not try that route again."""
        self.items.append(self._item(route, outcome, started, error))
        await self.ctx.remember(ATTEMPTS_KEY, list(self.items))

    def succeeded(self, route: Route, started: float) -> None:
        self.items.append(self._item(route, SUCCEEDED, started, None))
        self.ctx.note(ATTEMPTS_KEY, list(self.items))

    def _item(
        self, route: Route, outcome: str, started: float, error: EngineError | None
    ) -> dict[str, Any]:
        remembered = remembered_job(self.ctx, route.provider, route.target)
        return {
            "route": route.name,
            "provider": route.provider,
            "outcome": outcome,
            "error_code": error.code if error else None,
            "error": error.message[:_MAX_ERROR] if error else None,
            "latency_ms": max(0, round((time.time() - started) * 1000)),
            "job_id": str(remembered["id"]) if remembered else None,
            "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        }
