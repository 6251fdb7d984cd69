from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base, JSONType


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # an attempt is due at next_attempt_at (first try or a retry)
    SUCCEEDED = "succeeded"  # a 2xx came back
    FAILED = "failed"  # given up without spending the schedule (410 Gone, endpoint disabled)
    DEAD = "dead"  # every attempt of the retry schedule failed


class WebhookEndpoint(Base):
    """A URL an account registered (``whk_…``) and the secret its deliveries are signed with."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    # Event types this endpoint wants; empty means every event.
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(String(500), default="")
    # The account's default endpoint, as set by PATCH /api/v1/settings {webhook_url}.
    is_default: Mapped[bool] = mapped_column(default=False)
    # The body its deliveries carry: ``mediastudio`` (the native event) or ``seed001`` (seed
    # 001's job.completed / job.failed, for an endpoint set through seed 001's PATCH
    # /api/settings; webhooks/formats.py).
    payload_format: Mapped[str] = mapped_column(
        String(16), default="mediastudio", server_default="mediastudio"
    )
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret keeps signing, beside the new one, until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column()
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    # When the current run of failed attempts began; cleared by any success.
    failing_since: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookSigningSecret(Base):
    """The account's secret for the ``webhook_url`` given on single generations."""

    __tablename__ = "webhook_signing_secrets"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one target: the payload exactly as signed and sent, and how sending went.

    ``target`` names what back-pressure is counted per: the endpoint id, or ``url:<hash>`` for a
    generation's own ``webhook_url``.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The sender's query: pending rows whose attempt is due, oldest first.
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # Listing an endpoint's deliveries of one mode (live or sandbox), newest first.
        Index("ix_webhook_deliveries_endpoint_id_sandbox_id", "endpoint_id", "sandbox", "id"),
        Index("ix_webhook_deliveries_account_id_id", "account_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(String(2048))
    target: Mapped[str] = mapped_column(String(80))
    generation_id: Mapped[str | None] = mapped_column(String(40))
    # The mode of the generation (or of the key that sent a test event): a sandbox key lists
    # only sandbox deliveries and a live key only live ones, as with generations.
    sandbox: Mapped[bool] = mapped_column(default=False)
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(64))
    # The compact UTF-8 JSON serialised once; these exact bytes are signed and sent every time.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # When pending: when the next attempt is due. While an attempt runs it holds the claim's
    # lease, so a process killed mid-delivery leaves a row that becomes due again by itself.
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column()
    last_latency_ms: Mapped[int | None] = mapped_column()
    last_response_excerpt: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Every attempt: {at, status_code, latency_ms, error, excerpt}; at most the schedule's length.
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
