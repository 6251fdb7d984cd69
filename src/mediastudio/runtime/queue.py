"""What the platform needs from a dispatcher: hand over a committed job, stop a running one."""

from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    def enqueue(self, generation_id: str, pool: str) -> None:
        """Offer a committed, queued job to a worker of ``pool``. Idempotent."""
        ...

    def cancel(self, generation_id: str) -> None:
        """Stop the job if it runs here (the database already says it is cancelled)."""
        ...
