"""A job context for engine tests that records each progress report and can act on it (cancel
after the second step, check what was reported so far)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from mediastudio.engines.contract import ModelSpec
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher

Hook = Callable[["Recorder"], None]


class Recorder(JobContext):
    """A JobContext in its own work directory under ``tmp_path`` that records progress and runs
    ``hook`` on each report."""

    def __init__(
        self,
        tmp_path: Path,
        spec: ModelSpec,
        validated: BaseModel,
        hook: Hook = lambda ctx: None,
    ) -> None:
        workdir = tmp_path / f"job-{uuid.uuid4().hex[:8]}"
        workdir.mkdir()
        super().__init__(
            generation_id="gen_test",
            model=spec,
            input=validated,
            sandbox=False,
            workdir=workdir,
            fetcher=SafeFetcher(workdir, NetPolicy()),
        )
        self.reports: list[float] = []
        self.hook = hook

    def progress(self, fraction: float) -> None:
        super().progress(fraction)
        self.reports.append(fraction)
        self.hook(self)
