"""Compositions: engines that run other engines' models as steps of one job.

A composition (a commercial = voice-over + music bed + animated stills + captions) is an engine
like any other; inside ``run`` it asks a :class:`Composition` to run registered models by id, in
the same worker thread, each in its own sub-directory of the job's work directory. Progress of the
whole job is the weighted sum of its steps', cancellation reaches every step, and a step's
outputs come back as files for the next step instead of becoming outputs of the job. Only what
the composition itself hands to ``ctx.add_output`` is published.

    steps = Composition(ctx, registry, {"voice": 2, "music": 2, "video": 5, "mux": 1})
    voice = steps.run_model("voice", "builtin/espeak", {"text": script, "output_format": "wav"})
    with steps.stage("mux") as progress:
        ...  # the composition's own work, reporting progress(fraction) of this stage

A step's model may be a coroutine engine's (a hosted provider's: transcription, speech, video).
The composition's worker thread then hands the step to the platform's event loop
(``ctx.loop``) with :func:`asyncio.run_coroutine_threadsafe` and waits for it:

- the job's cancellation (a cancel, a timeout, a shutdown) reaches the step through the
  context they share, so the provider engine stops as it would as a job of its own (it cancels
  its provider's job after a cancel or a timeout; after a shutdown it leaves it);
- a step that does not stop within :data:`STEP_STOP_GRACE_S` of being told is cancelled on the
  loop, and a step cancelled there (the loop shutting down) ends the composition as cancelled;
- steps remember nothing (``recall`` / ``remember`` are no-ops): a restarted composition runs
  its steps again, so a provider step is paid again by the operator, never by the user.

Every step that gives outputs is reported with ``ctx.step_made(step, model_id, seconds)``: the
seconds it made. The composition knows no credits; the runner settles the steps priced by the
second from those reports when the job ends (``runtime/settlement.py``, docs/engines.md).

Inputs the composition already fetched are handed to its steps with :meth:`Composition.share`
(the step's fetcher answers them with the local file instead of fetching the URL again).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mediastudio.engines.contract import (
    EngineError,
    InputFetcher,
    JobCancelled,
    ModelSpec,
    OutputFile,
    RunContext,
)
from mediastudio.engines.registry import EngineRegistry

STEP_POLL_S = 0.25  # how often the waiting thread checks the job's cancellation
STEP_STOP_GRACE_S = 10.0  # after which a told-to-stop coroutine step is cancelled on the loop


class StepFailed(EngineError):
    """A step produced nothing usable; the composition fails with the step's own error code."""


class StepContext:
    """The :class:`RunContext` one step sees: the parent's cancellation and fetcher, its own
    work directory and outputs, and progress mapped into its slice of the parent's bar."""

    def __init__(
        self,
        parent: RunContext,
        model: ModelSpec,
        validated: BaseModel,
        workdir: Path,
        span: tuple[float, float],
    ) -> None:
        self.parent = parent
        self.generation_id = parent.generation_id
        self.model = model
        self.input = validated
        self.sandbox = parent.sandbox
        self.workdir = workdir
        self.loop = parent.loop
        self.fetcher: InputFetcher = parent.fetcher
        self.outputs: list[OutputFile] = []
        self.failures: list[dict[str, str]] = []
        self._span = span
        self._count = 0

    @property
    def cancelled(self) -> bool:
        return self.parent.cancelled

    @property
    def cancel_reason(self) -> str | None:
        return self.parent.cancel_reason

    def check_cancelled(self) -> None:
        self.parent.check_cancelled()

    # Steps run afresh each time the composition runs, so they have nothing to resume: nothing
    # is remembered for them (a provider step whose job id is not stored submits again).
    def recall(self, key: str) -> Any:
        return None

    async def remember(self, key: str, value: Any) -> None:
        return None

    def note(self, key: str, value: Any) -> None:
        return None

    def served_by(self, provider: str) -> None:
        self.parent.served_by(provider)

    # A step that is itself a composition (a talking avatar's speech step) runs steps of its
    # own; those were not quoted with the job (the catalog prices one level of steps), so
    # there is nothing to settle for them.
    def step_made(self, step: str, model_id: str, seconds: float | None) -> None:
        return None

    def progress(self, fraction: float) -> None:
        start, end = self._span
        self.parent.progress(start + (end - start) * min(1.0, max(0.0, fraction)))

    def output_path(self, suffix: str) -> Path:
        self._count += 1
        return self.workdir / f"out-{self._count}{suffix}"

    def add_output(self, output: OutputFile) -> None:
        self.outputs.append(output)

    def output_failed(self, code: str, message: str, **extra: Any) -> None:
        self.failures.append({"code": code, "message": message})


class SharedFetcher:
    """A step's fetcher: the files its composition shared by URL, else the job's fetcher."""

    def __init__(self, parent: InputFetcher, shared: Mapping[str, Path]) -> None:
        self._parent = parent
        self._shared = shared

    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        path = self._shared.get(url)
        if path is not None and (max_bytes is None or path.stat().st_size <= max_bytes):
            return path
        return self._parent.fetch(url, max_bytes=max_bytes)


class Composition:
    """Runs the steps of one composition job; ``weights`` name the steps in order and say how
    much of the progress bar each takes (any positive numbers)."""

    def __init__(
        self, ctx: RunContext, registry: EngineRegistry, weights: Mapping[str, float]
    ) -> None:
        if not weights or any(weight <= 0 for weight in weights.values()):
            raise ValueError("steps need positive weights")
        self.ctx = ctx
        self.registry = registry
        total = float(sum(weights.values()))
        self._shared: dict[str, Path] = {}
        self._spans: dict[str, tuple[float, float]] = {}
        start = 0.0
        for name, weight in weights.items():
            end = start + weight / total
            self._spans[name] = (start, end)
            start = end

    def span(self, step: str) -> tuple[float, float]:
        try:
            return self._spans[step]
        except KeyError:
            raise ValueError(f"unknown step {step!r}; declared: {list(self._spans)}") from None

    def share(self, url: str, path: Path) -> None:
        """Steps that fetch ``url`` get ``path`` (already fetched by the composition; steps
        only read it) instead of downloading it again."""
        self._shared[url] = path

    def run_model(
        self, step: str, model_id: str, payload: Mapping[str, Any] | BaseModel
    ) -> list[OutputFile]:
        """Run ``model_id`` on ``payload`` as step ``step``; returns its output files.

        Under a sandbox key the step runs on the sandbox engine, like any sandbox job. A
        coroutine engine's step runs on the platform's event loop (see the module's notes)."""
        self.ctx.check_cancelled()
        registered = self.registry.get(model_id)
        if registered is None:
            raise EngineError(f"The step {step!r} needs model {model_id!r}, not installed here.")
        spec = registered.spec
        engine = self.registry.sandbox if self.ctx.sandbox and self.registry.sandbox else None
        engine = engine or registered.engine
        validated = self._validate(spec, payload)
        workdir = self.ctx.workdir / f"step-{step}"
        workdir.mkdir(parents=True, exist_ok=True)
        sub = StepContext(self.ctx, spec, validated, workdir, self.span(step))
        sub.fetcher = SharedFetcher(self.ctx.fetcher, self._shared)
        try:
            if inspect.iscoroutinefunction(engine.run):
                self._await_step(sub, engine.run(sub), model_id)
            else:
                engine.run(sub)
        except JobCancelled:
            raise
        except EngineError as exc:
            raise _step_failed(step, model_id, exc.code, exc.message) from exc
        if sub.failures or not sub.outputs:
            failure = sub.failures[0] if sub.failures else None
            if failure is None:
                raise _step_failed(step, model_id, "engine_error", "it produced no output.")
            raise _step_failed(step, model_id, failure["code"], failure["message"])
        sub.progress(1.0)
        # What the step made, for the runner to settle a step priced by the second (the job
        # reserved the step's longest output): the sum of its outputs' lengths, None when one
        # has none (the step then pays what was reserved for it).
        durations = [output.duration_s for output in sub.outputs]
        made = None if any(d is None for d in durations) else sum(d or 0.0 for d in durations)
        self.ctx.step_made(step, model_id, made)
        return sub.outputs

    def _await_step(self, sub: StepContext, work: Awaitable[None] | None, model_id: str) -> None:
        """Run a coroutine step on the platform's loop and wait for it from this thread."""
        if not inspect.iscoroutine(work):
            raise EngineError(f"Model {model_id!r} did not start a coroutine.")
        loop = self.ctx.loop
        if loop is None or loop.is_closed():
            work.close()
            raise EngineError(
                f"Model {model_id!r} runs on the platform's event loop, which this job lacks."
            )
        future = asyncio.run_coroutine_threadsafe(work, loop)
        told_at: float | None = None
        waited = 0.0
        while True:
            try:
                future.result(timeout=STEP_POLL_S)
                return
            except concurrent.futures.TimeoutError:
                waited += STEP_POLL_S
            except concurrent.futures.CancelledError:
                # Cancelled on the loop (the platform stopping): the job stops with it.
                raise JobCancelled("The step was cancelled.") from None
            if sub.cancelled and told_at is None:
                told_at = waited  # the step sees the same flag and stops on its own
            if told_at is not None and waited - told_at >= STEP_STOP_GRACE_S:
                future.cancel()
                sub.check_cancelled()

    @contextmanager
    def stage(self, step: str) -> Iterator[StepProgress]:
        """The composition's own work as step ``step``: report progress through the yielded
        callable; the stage counts as done when the block exits."""
        self.ctx.check_cancelled()
        progress = StepProgress(self.ctx, self.span(step))
        yield progress
        progress(1.0)

    @staticmethod
    def _validate(spec: ModelSpec, payload: Mapping[str, Any] | BaseModel) -> BaseModel:
        if isinstance(payload, spec.input_model):
            return payload
        data = payload.model_dump() if isinstance(payload, BaseModel) else dict(payload)
        try:
            return spec.input_model.model_validate(data)
        except ValidationError as exc:
            raise EngineError(f"Invalid input for step model {spec.id}: {exc}") from exc


def _step_failed(step: str, model_id: str, code: str, message: str) -> StepFailed:
    error = StepFailed(f"Step {step!r} ({model_id}) failed: {message}")
    error.code = code
    return error


class StepProgress:
    def __init__(self, ctx: RunContext, span: tuple[float, float]) -> None:
        self._ctx = ctx
        self._span = span

    def __call__(self, fraction: float) -> None:
        start, end = self._span
        self._ctx.progress(start + (end - start) * min(1.0, max(0.0, fraction)))
