from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base, JSONType


class Status(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self not in (Status.QUEUED, Status.PROCESSING)


class Generation(Base):
    __tablename__ = "generations"
    __table_args__ = (
        # Listing and cursor paging: newest first within an account and mode.
        Index("ix_generations_account_id_sandbox_id", "account_id", "sandbox", "id"),
        # The same, filtered by type (?type=, and the product-image-enhancements list).
        Index("ix_generations_account_id_sandbox_type_id", "account_id", "sandbox", "type", "id"),
        # One per other list filter (?status=, ?model=, ?external_id=): each page is then read in
        # index order and stops after limit + 1 rows. Without one, SQLite walks the mode's index
        # above and checks every row: a rare value (an external_id names one job) read the
        # whole account (0.6 s with 1 M rows, docs/benchmarks.md "Listing at scale").
        Index(
            "ix_generations_account_id_sandbox_status_id", "account_id", "sandbox", "status", "id"
        ),
        Index("ix_generations_account_id_sandbox_model_id", "account_id", "sandbox", "model", "id"),
        Index(
            "ix_generations_account_id_sandbox_external_id_id",
            "account_id",
            "sandbox",
            "external_id",
            "id",
        ),
        # The concurrency cap counts an account's processing jobs in both modes.
        Index("ix_generations_account_id_status_id", "account_id", "status", "id"),
        # Daily quotas count an account's generations of one type since midnight.
        Index("ix_generations_account_id_type_created_at", "account_id", "type", "created_at"),
        # An event stream the bus cannot replay for reads what finished after its last event
        # (events.service), in completion order.
        Index(
            "ix_generations_account_id_sandbox_completed_at",
            "account_id",
            "sandbox",
            "completed_at",
        ),
        # Recovery and the concurrency cap look jobs up by status.
        Index("ix_generations_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default=Status.QUEUED)
    input: Mapped[dict[str, Any]] = mapped_column(JSONType)
    prompt: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[int] = mapped_column(default=0)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    credits_reserved: Mapped[int] = mapped_column(default=0)
    credits_charged: Mapped[int] = mapped_column(default=0)
    credits_refunded: Mapped[int] = mapped_column(default=0)
    sandbox: Mapped[bool] = mapped_column(default=False)
    external_id: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    pool: Mapped[str] = mapped_column(String(32), default="cpu")
    attempts: Mapped[int] = mapped_column(default=0)
    # What the engine remembered for a later run of this job (RunContext.remember): a
    # provider's prediction id, so that a restarted job resumes it rather than paying twice.
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The hosted provider that did the work (RunContext.served_by); null for local engines.
    provider: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
