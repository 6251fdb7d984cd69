"""Settling a composition's steps priced by the second (``output_second``).

A job that runs other models as steps (``ModelSpec.uses``) was quoted and reserved its own price
plus one job of each step model; a step model priced per second of output (a lip-sync) was
reserved for its longest output (``ModelSpec.reserved_seconds``). The composition reports the
seconds each step made (``RunContext.step_made``); when the job ends the runner gives back the
credits of the seconds reserved and not made, as it does for a model's own unused seconds:

- the quoted steps are grouped by model: a model quoted ``n`` times reserved ``n`` times its
  seconds, and its reports together are charged at most that;
- a report is charged its seconds rounded up, at least one and at most the model's reserved
  seconds (as :meth:`ModelSpec.units_made` charges a job); a report without a length pays the
  reservation in full;
- a quoted step with no report (it failed, was skipped, or the job stopped before it) made
  nothing: its seconds all go back;
- the price is the model's price now (``Settings.price_of``), at the job's end.

Reports live in the job's context only: a run stopped before it ends (a restart, a crash) runs its
steps again, and the new run settles with its own reports, never with the old run's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from mediastudio.engines.contract import ModelSpec

# (model id, its catalog price per unit) → the price charged per unit (Settings.price_of).
PriceOf = Callable[[str, int], int]


@dataclass(frozen=True)
class StepMade:
    """What one step of a composition made: its model and the seconds of its outputs (None: a
    length unknown)."""

    step: str
    model_id: str
    seconds: float | None


def quoted_steps(
    spec: ModelSpec, validated: BaseModel, lookup: Callable[[str], ModelSpec | None]
) -> list[ModelSpec]:
    """The step models the job was quoted with: ``spec.uses`` for its input, each step's model
    read from the input's field (the catalog wrote it there at create). A model no longer
    installed is left out (its step cannot have run, and nothing is known to settle it by)."""
    if spec.uses is None:
        return []
    quoted = []
    for use in spec.uses(validated):
        model_id = getattr(validated, use.field, None)
        step_spec = lookup(model_id) if isinstance(model_id, str) else None
        if step_spec is not None:
            quoted.append(step_spec)
    return quoted


def unmade_step_credits(
    quoted: Sequence[ModelSpec], made: Iterable[StepMade], price_of: PriceOf
) -> int:
    """Credits reserved for the quoted steps' seconds that were not made (zero when no quoted
    step is priced by the second)."""
    by_id = {spec.id: spec for spec in quoted if spec.reserved_seconds is not None}
    times = Counter(spec.id for spec in quoted if spec.id in by_id)
    charged: Counter[str] = Counter()
    for report in made:
        spec = by_id.get(report.model_id)
        if spec is None or spec.reserved_seconds is None:
            continue  # not quoted by the second: charged as quoted
        charged[spec.id] += _seconds_charged(report.seconds, spec.reserved_seconds)
    unmade = 0
    for model_id, count in times.items():
        spec = by_id[model_id]
        assert spec.reserved_seconds is not None
        reserved = count * spec.reserved_seconds
        unmade += (reserved - min(reserved, charged[model_id])) * price_of(model_id, spec.credits)
    return unmade


def _seconds_charged(seconds: float | None, reserved: int) -> int:
    if seconds is None:
        return reserved
    return min(reserved, max(1, math.ceil(seconds - 1e-6)))
