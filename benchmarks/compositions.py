"""Timing the parts of a composition (engines/compose.py) from outside it, for the composition
benchmarks (engine_commercial.py, dubbing_overhead.py)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mediastudio.engines.compose import Composition


@contextmanager
def timed_parts() -> Iterator[dict[str, float]]:
    """Wall seconds per part of a composition (a step's name up to its first ``-``, so
    ``speak-1``… add up), by wrapping the composition's step runners."""
    spent: dict[str, float] = defaultdict(float)
    run_model, stage = Composition.run_model, Composition.stage

    def timed_run_model(self: Composition, step: str, model_id: str, payload: Any) -> Any:
        started = time.perf_counter()
        try:
            return run_model(self, step, model_id, payload)
        finally:
            spent[step.split("-")[0]] += time.perf_counter() - started

    @contextmanager
    def timed_stage(self: Composition, step: str) -> Iterator[Any]:
        started = time.perf_counter()
        try:
            with stage(self, step) as progress:
                yield progress
        finally:
            spent[step.split("-")[0]] += time.perf_counter() - started

    Composition.run_model = timed_run_model  # type: ignore[method-assign]
    Composition.stage = timed_stage  # type: ignore[assignment,method-assign]
    try:
        yield spent
    finally:
        Composition.run_model = run_model  # type: ignore[method-assign]
        Composition.stage = stage  # type: ignore[method-assign]
