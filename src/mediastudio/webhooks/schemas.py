"""Webhooks' public shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mediastudio.kit.examples import EXAMPLE_WEBHOOK_URL
from mediastudio.webhooks.events import EVENT_TYPES
from mediastudio.webhooks.models import WebhookDelivery, WebhookEndpoint

EVENTS_HELP = f"Events to receive (default: all): {', '.join(EVENT_TYPES)}"
# The documented part of the URL checks (webhooks/urls.py): an https URL. That its host
# resolves to public addresses only is checked at registration and again at every delivery.
HTTPS_URL: dict[str, Any] = {"format": "uri", "pattern": "^https://"}
EVENT_NAMES: dict[str, Any] = {"items": {"type": "string", "enum": list(EVENT_TYPES)}}


# The examples are what Swagger UI's "Try it out" sends (see generations/schemas.py).
class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": EXAMPLE_WEBHOOK_URL,
                    "events": ["generation.completed", "generation.failed"],
                    "description": "Order pipeline",
                }
            ]
        },
    )

    url: str = Field(
        max_length=2048,
        description="HTTPS URL that receives the events",
        json_schema_extra=HTTPS_URL,
    )
    events: list[str] | None = Field(
        None, max_length=len(EVENT_TYPES), description=EVENTS_HELP, json_schema_extra=EVENT_NAMES
    )
    description: str | None = Field(None, max_length=500)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"events": ["generation.completed"], "description": "Completed jobs only"}]
        },
    )

    url: str | None = Field(None, max_length=2048, json_schema_extra=HTTPS_URL)
    events: list[str] | None = Field(
        None, max_length=len(EVENT_TYPES), description=EVENTS_HELP, json_schema_extra=EVENT_NAMES
    )
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = Field(None, description="Re-enable a disabled endpoint, or pause one")


class WebhookRead(BaseModel):
    id: str
    object: str = "webhook_endpoint"
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    is_default: bool
    previous_secret_expires_at: datetime | None = Field(
        description="While set and in the future, the previous secret also signs deliveries"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookRead:
        return cls.model_validate(endpoint, from_attributes=True)


class WebhookWithSecret(WebhookRead):
    secret: str = Field(description="whsec_…: shown once; verify deliveries with it")


class WebhookList(BaseModel):
    object: str = "list"
    data: list[WebhookRead]


class AttemptRead(BaseModel):
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str


class DeliveryRead(BaseModel):
    id: str
    object: str = "webhook_delivery"
    endpoint_id: str | None
    event_id: str
    event: str
    generation_id: str | None
    sandbox: bool = Field(description="A delivery of a sandbox generation (or sandbox test)")
    status: str = Field(description="pending, succeeded, failed (given up early) or dead")
    attempts: int
    next_attempt_at: datetime | None = Field(description="The next retry, while pending")
    last_status_code: int | None
    last_latency_ms: int | None
    last_response_excerpt: str | None
    last_error: str | None
    attempt_log: list[AttemptRead]
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryRead:
        values: dict[str, Any] = {
            name: getattr(delivery, name)
            for name in cls.model_fields
            if name not in ("object", "event") and hasattr(delivery, name)
        }
        return cls(**values, event=delivery.event_type)


class DeliveryList(BaseModel):
    object: str = "list"
    data: list[DeliveryRead]
    has_more: bool
    next_cursor: str | None


class SigningSecretRead(BaseModel):
    secret: str = Field(description="Signs deliveries to the webhook_url given on generations")


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"webhook_url": EXAMPLE_WEBHOOK_URL}]}
    )

    webhook_url: str | None = Field(
        max_length=2048,
        description="The account's default endpoint (every event); null removes it",
        json_schema_extra=HTTPS_URL,
    )


class SettingsRead(BaseModel):
    webhook_url: str | None
    webhook: WebhookRead | None
    secret: str | None = Field(None, description="Shown once, when the default endpoint is made")
