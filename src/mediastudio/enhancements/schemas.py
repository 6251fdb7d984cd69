"""Seed 004's shapes: the enhancement request, the ``enhancement`` object, the presets list."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from mediastudio.engines.builtin.image_tools.presets import PresetId
from mediastudio.engines.builtin.image_tools.product import MAX_ITEMS, ProductItem
from mediastudio.generations.models import Status
from mediastudio.kit.examples import EXAMPLE_IMAGE

ItemStatus = Literal["queued", "processing", "completed", "failed", "cancelled"]


class EnhancementCreate(BaseModel):
    """``POST /product-image-enhancements``. The Idempotency-Key goes in the header, never here."""

    # The example is what Swagger UI's "Try it out" sends (see generations/schemas.py).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "preset": "marketplace_square",
                    "items": [{"image_url": EXAMPLE_IMAGE, "external_id": "SKU-1042"}],
                    "output_format": "jpg",
                }
            ]
        },
    )

    preset: PresetId = Field(description="One of GET /product-image-enhancements/presets")
    items: list[ProductItem] = Field(
        min_length=1, max_length=MAX_ITEMS, description="1 to 20 product photos"
    )
    output_format: Literal["jpg", "png", "webp"] = Field("jpg", description="File format")
    webhook_url: AnyHttpUrl | None = Field(None, description="Also notify this URL of this batch")
    metadata: dict[str, Any] | None = Field(None, description="Your own data, returned as is")


class ItemError(BaseModel):
    code: str
    message: str


class EnhancementItem(BaseModel):
    index: int
    external_id: str | None
    status: ItemStatus
    result_url: str | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    error: ItemError | None = None


class Enhancement(BaseModel):
    id: str = Field(description="The batch's id; it is also its generation's id")
    object: str = "product_image_enhancement"
    status: Status
    preset: str
    total_items: int
    completed_items: int
    failed_items: int
    progress: int
    credits_reserved: int
    credits_charged: int
    credits_refunded: int
    sandbox: bool
    items: list[EnhancementItem]
    error: ItemError | None
    metadata: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class EnhancementResponse(BaseModel):
    enhancement: Enhancement
    remaining_paid_credits: int | None = Field(
        None, description="The account's credit balance after this request (create only)"
    )
    request_id: str


class EnhancementList(BaseModel):
    """``GET /product-image-enhancements``: batches newest first, cursor-paged like
    ``GET /generations``."""

    object: str = "list"
    data: list[Enhancement]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as starting_after for the next page")
    request_id: str


class PresetRead(BaseModel):
    id: str
    name: str
    description: str
    credits_per_item: int


class PresetList(BaseModel):
    presets: list[PresetRead]
    request_id: str
