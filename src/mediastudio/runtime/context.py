"""The :class:`~mediastudio.engines.contract.RunContext` the runner hands to an engine."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mediastudio.engines.contract import InputFetcher, JobCancelled, ModelSpec, OutputFile
from mediastudio.runtime.settlement import StepMade

# Stores (checkpoint, provider) with the job; False when the job is no longer this worker's.
Persist = Callable[[dict[str, Any], str | None], Awaitable[bool]]


class JobContext:
    def __init__(
        self,
        *,
        generation_id: str,
        model: ModelSpec,
        input: BaseModel,
        sandbox: bool,
        workdir: Path,
        fetcher: InputFetcher,
        checkpoint: dict[str, Any] | None = None,
        persist: Persist | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.generation_id = generation_id
        self.model = model
        self.input = input
        self.sandbox = sandbox
        self.workdir = workdir
        self.fetcher = fetcher
        self.outputs: list[OutputFile] = []
        self.failures: list[dict[str, Any]] = []
        self.cancel_reason: str | None = None
        self.provider: str | None = None
        # What the composition's steps made, for settling steps priced by the second; kept in
        # memory only: a restarted run runs (and reports) its steps again.
        self.steps_made: list[StepMade] = []
        self.persist = persist
        self.loop = loop
        self._checkpoint: dict[str, Any] = dict(checkpoint or {})
        self._unsaved = False  # a note() not yet written with the job
        self._cancelled = threading.Event()
        self._progress = 0.0

    # What engines call -----------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled(f"The job was stopped ({self.cancel_reason}).")

    def progress(self, fraction: float) -> None:
        # Monotonic: a chunked engine reporting per chunk never makes the bar go backwards.
        self._progress = max(self._progress, min(1.0, max(0.0, fraction)))

    def output_path(self, suffix: str) -> Path:
        return self.workdir / f"out-{uuid.uuid4().hex[:12]}{suffix}"

    def add_output(self, output: OutputFile) -> None:
        self.outputs.append(output)

    def output_failed(self, code: str, message: str, **extra: Any) -> None:
        self.failures.append({**extra, "code": code, "message": message})

    def recall(self, key: str) -> Any:
        return self._checkpoint.get(key)

    async def remember(self, key: str, value: Any) -> None:
        state = {**self._checkpoint, key: value}
        if self.persist is None or await self.persist(state, self.provider):
            self._checkpoint = state
            self._unsaved = False

    def note(self, key: str, value: Any) -> None:
        self._checkpoint = {**self._checkpoint, key: value}
        self._unsaved = True

    def served_by(self, provider: str) -> None:
        self.provider = provider

    def step_made(self, step: str, model_id: str, seconds: float | None) -> None:
        self.steps_made.append(StepMade(step, model_id, seconds))  # atomic: steps may be threads

    # What the runner calls -------------------------------------------------------------------

    def unsaved_checkpoint(self) -> dict[str, Any] | None:
        """The whole checkpoint when a note() is not stored yet (the job's end stores it)."""
        return dict(self._checkpoint) if self._unsaved else None

    @property
    def percent(self) -> int:
        return int(self._progress * 100)

    def cancel(self, reason: str) -> None:
        if not self._cancelled.is_set():
            self.cancel_reason = reason
            self._cancelled.set()
