"""A model's lifecycle: current, deprecated (its provider announced a shutdown date), retired.

The rule is the clock's: a model with a :class:`~mediastudio.engines.contract.Deprecation` is
retired from the first moment of its shutdown day (UTC) on, so a model whose provider named a
date retires itself that day with no release of ours. A retired model stays in the catalog,
unavailable to every key (a sandbox key too: its placeholders would promise a model that no
longer runs), with a reason that says when and what to use instead; a request naming it is
refused before anything is queued or sent (503 ``model_unavailable``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

from mediastudio.engines.contract import Deprecation
from mediastudio.kit.clock import utcnow
from mediastudio.settings import Settings

Clock = Callable[[], datetime]


def lifecycle_clock(settings: Settings) -> Clock:
    """What "now" is for the lifecycle: the clock, or noon of ``MEDIASTUDIO_MODEL_LIFECYCLE_DATE``
    when the operator pinned a day."""
    pinned = settings.model_lifecycle_date
    if pinned is None:
        return utcnow
    moment = datetime.combine(pinned, time(12), tzinfo=UTC)
    return lambda: moment


def is_retired(deprecation: Deprecation | None, now: datetime) -> bool:
    return deprecation is not None and now.astimezone(UTC).date() >= deprecation.shutdown_date


def retired_reason(model_id: str, deprecation: Deprecation) -> str:
    return (
        f"{model_id} was retired on {deprecation.shutdown_date.isoformat()} (its provider shut "
        f"it down); use {deprecation.replacement} instead."
    )


def deprecation_fields(deprecation: Deprecation) -> dict[str, Any]:
    """The ``deprecation`` object of a catalog entry."""
    return {
        "shutdown_date": deprecation.shutdown_date.isoformat(),
        "replacement": deprecation.replacement,
    }
