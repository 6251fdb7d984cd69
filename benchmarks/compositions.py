"""Timing the parts of a composition (engines/compose.py) from outside it, for the composition
benchmarks (engine_commercial.py, dubbing_overhead.py).

A composition may run steps at once (the dub says its segments 4 at a time), so per-part times
are kept both as sums (busy time, all steps added up) and as intervals, whose *union* is the
wall time the part took: :func:`union_s`. Overheads are computed from unions; sums of
overlapping intervals overcount."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from mediastudio.engines.compose import Composition

Interval = tuple[float, float]  # (start, end), time.perf_counter() seconds


def union_s(intervals: Iterable[Interval]) -> float:
    """Seconds covered by at least one of ``intervals`` (overlaps counted once)."""
    covered, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        covered += end - max(start, reach)
        reach = end
    return covered


class Parts(dict[str, float]):
    """Seconds per part (summed over its steps, as before), and each part's intervals."""

    def __init__(self) -> None:
        super().__init__()
        self.intervals: dict[str, list[Interval]] = defaultdict(list)
        self._lock = threading.Lock()  # steps said at once finish on several threads

    def add(self, part: str, start: float, end: float) -> None:
        with self._lock:
            self[part] = self.get(part, 0.0) + end - start
            self.intervals[part].append((start, end))

    def wall(self, part: str) -> float:
        """The part's wall time: the union of its steps' intervals."""
        return union_s(self.intervals.get(part, []))


@contextmanager
def timed_parts() -> Iterator[Parts]:
    """Seconds per part of a composition (a step's name up to its first ``-``, so ``speak-1``…
    are one part), by wrapping the composition's step runners."""
    spent = Parts()
    run_model, stage = Composition.run_model, Composition.stage

    def timed_run_model(self: Composition, step: str, model_id: str, payload: Any) -> Any:
        started = time.perf_counter()
        try:
            return run_model(self, step, model_id, payload)
        finally:
            spent.add(step.split("-")[0], started, time.perf_counter())

    @contextmanager
    def timed_stage(self: Composition, step: str) -> Iterator[Any]:
        started = time.perf_counter()
        try:
            with stage(self, step) as progress:
                yield progress
        finally:
            spent.add(step.split("-")[0], started, time.perf_counter())

    Composition.run_model = timed_run_model  # type: ignore[method-assign]
    Composition.stage = timed_stage  # type: ignore[assignment,method-assign]
    try:
        yield spent
    finally:
        Composition.run_model = run_model  # type: ignore[method-assign]
        Composition.stage = stage  # type: ignore[method-assign]
