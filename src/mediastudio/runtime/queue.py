"""What the platform needs from a dispatcher: hand over a committed job, stop a running one."""

from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    def enqueue(self, generation_id: str, pool: str, *, again: bool = False) -> None:
        """Offer a committed, queued job to a worker of ``pool``. Idempotent: an offer repeated
        soon may be dropped, except one made with ``again`` (the job was queued again after a
        run was lost, so any earlier offer has been used up)."""
        ...

    def cancel(self, generation_id: str) -> None:
        """Stop the job if it runs here (the database already says it is cancelled)."""
        ...
