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
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
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

    # Steps are plain functions run afresh each time (asynchronous models cannot be steps), so
    # they have nothing to resume: nothing is remembered for them.
    def recall(self, key: str) -> Any:
        return None

    async def remember(self, key: str, value: Any) -> None:
        return None

    def note(self, key: str, value: Any) -> None:
        return None

    def served_by(self, provider: str) -> None:
        self.parent.served_by(provider)

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

    def run_model(
        self, step: str, model_id: str, payload: Mapping[str, Any] | BaseModel
    ) -> list[OutputFile]:
        """Run ``model_id`` on ``payload`` as step ``step``; returns its output files.

        Under a sandbox key the step runs on the sandbox engine, like any sandbox job."""
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
        try:
            result = engine.run(sub)
        except JobCancelled:
            raise
        except EngineError as exc:
            raise _step_failed(step, model_id, exc.code, exc.message) from exc
        if inspect.isawaitable(result):
            raise EngineError(f"Model {model_id!r} is asynchronous and cannot be a step yet.")
        if sub.failures or not sub.outputs:
            failure = sub.failures[0] if sub.failures else None
            if failure is None:
                raise _step_failed(step, model_id, "engine_error", "it produced no output.")
            raise _step_failed(step, model_id, failure["code"], failure["message"])
        sub.progress(1.0)
        return sub.outputs

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
