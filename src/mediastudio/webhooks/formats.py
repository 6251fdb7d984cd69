"""Which body an endpoint's deliveries carry (``webhook_endpoints.payload_format``).

``mediastudio`` is the native event (``{id, event, data: generation, created_at}``);
``seed001`` is seed 001's ``{event: job.completed|job.failed, timestamp, data: job}``, for an
endpoint set through seed 001's ``PATCH /api/settings`` (docs/compat.md). Either is signed and
sent the same way.
"""

from __future__ import annotations

NATIVE_FORMAT = "mediastudio"
SEED001_FORMAT = "seed001"
PAYLOAD_FORMATS = (NATIVE_FORMAT, SEED001_FORMAT)
