"""Which body an endpoint's deliveries carry (``webhook_endpoints.payload_format``).

``mediastudio`` is the native event (``{id, event, data: generation, created_at}``);
``seed001`` is seed 001's ``{event: job.completed|job.failed, timestamp, data: job}``, for an
endpoint set through seed 001's ``PATCH /api/settings`` (docs/compat.md). Either is signed and
sent the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

from mediastudio.generations.models import Generation
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

# Fields a native event of one generation type carries beside ``data`` (the generation): the
# generation row and the output-URL signer in, the extra top-level fields out. Seed 004's batches
# add ``enhancement`` (its items' ``external_id`` → ``result_url``), as their status endpoint
# shows it. Handed in by platform.py like the formatters, keyed by the generation's type.
EventFields: TypeAlias = Callable[[Generation, Callable[[str], str]], dict[str, Any]]
EventFieldsByType: TypeAlias = Mapping[str, EventFields]
