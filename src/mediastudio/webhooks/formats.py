"""Which body an endpoint's deliveries carry (``webhook_endpoints.payload_format``).

``mediastudio`` is the native event (``{id, event, data: generation, created_at}``);
``seed001`` is seed 001's ``{event: job.completed|job.failed, timestamp, data: job}``, for an
endpoint set through seed 001's ``PATCH /api/settings`` (docs/compat.md). Either is signed and
sent the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeAlias

from mediastudio.generations.schemas import GenerationRead

NATIVE_FORMAT = "mediastudio"
SEED001_FORMAT = "seed001"
PAYLOAD_FORMATS = (NATIVE_FORMAT, SEED001_FORMAT)

# A format other than the native one: the generation as the API shows it and the delivery's
# time in, its event name and serialised body out. The compatibility packages own their shapes;
# the composition root (platform.py) hands them to the outbox, so that webhooks/ depends on no
# compat package.
PayloadFormatter: TypeAlias = Callable[[GenerationRead, datetime], tuple[str, str]]
PayloadFormatters: TypeAlias = Mapping[str, PayloadFormatter]
