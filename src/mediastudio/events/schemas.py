"""The events of the SSE streams, as published in the OpenAPI document (docs/events.md).

Each SSE event is ``event: <type>``, ``id: <id>`` and one ``data:`` line holding a JSON object
``{id, type, generation_id, data}``; the models here describe that object per event type. The
OpenAPI ``itemSchema`` of the streams (one schema per event, OpenAPI 3.2's way, which FastAPI
also uses for its own SSE routes) is built from them by :func:`sse_item_schema`.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from mediastudio.generations.schemas import GenerationRead
from mediastudio.kit.errors import ErrorBody

Active = Literal["queued", "processing"]
Final = Literal["completed", "partially_completed", "failed", "cancelled"]


class StatusData(BaseModel):
    status: Active
    progress: int = Field(ge=0, le=100)
    generation: GenerationRead | None = Field(None, description="Only on a snapshot")
    snapshot: bool = Field(False, description="The state at connect time, not a change")


class ProgressData(BaseModel):
    status: Literal["processing"]
    progress: int = Field(ge=0, le=100)


class FinalData(BaseModel):
    status: Final
    progress: int = Field(ge=0, le=100)
    generation: GenerationRead | None = Field(
        description="The whole generation, read when the event is sent (null once deleted)"
    )
    snapshot: bool = Field(False, description="The state at connect time, not a change")
    deleted: bool = Field(False, description="Cancelled because it was deleted")


class ReadyData(BaseModel):
    resumed: bool = Field(description="Whether the missed events were replayed (else: state)")
    too_far_behind: bool = Field(
        False,
        description="More generations ended while the client was away than a catch-up sends: "
        "none of them was sent; re-list them with GET /api/v1/generations",
    )


class StatusEvent(BaseModel):
    """A job was queued (created, retried, put back) or taken by a worker."""

    id: str
    type: Literal["status"]
    generation_id: str
    data: StatusData


class ProgressEvent(BaseModel):
    """The running job's progress changed."""

    id: str
    type: Literal["progress"]
    generation_id: str
    data: ProgressData


class FinalEvent(BaseModel):
    """The job ended: completed, partially_completed, failed or cancelled."""

    id: str
    type: Final
    generation_id: str
    data: FinalData


class ReadyEvent(BaseModel):
    """The listener is caught up (account stream only)."""

    id: str
    type: Literal["ready"]
    generation_id: None
    data: ReadyData


class ErrorEvent(BaseModel):
    """The stream's key was refused while it was open; the stream ends after it."""

    type: Literal["error"]
    error: ErrorBody


# What a stream's ``data:`` lines hold; the route declares it so FastAPI puts these models in the
# document's components (under the names it gives them), and events/openapi.py files them under
# their event names.
StreamEvent = StatusEvent | ProgressEvent | FinalEvent | ReadyEvent | ErrorEvent

# SSE ``event:`` name -> the model of its data, and whether it carries an ``id:`` line.
STREAM_EVENTS: dict[str, tuple[type[BaseModel], bool]] = {
    "status": (StatusEvent, True),
    "progress": (ProgressEvent, True),
    **{name: (FinalEvent, True) for name in get_args(Final)},
    "ready": (ReadyEvent, True),
    "error": (ErrorEvent, False),
}


def sse_item_schema(event: str, data_ref: dict[str, Any], has_id: bool) -> dict[str, Any]:
    """One event as a client's SSE parser sees it: its name, its id and its JSON data."""
    properties: dict[str, Any] = {
        "event": {"const": event},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": data_ref,
        },
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    }
    required = ["event", "data", *(["id"] if has_id else [])]
    return {"type": "object", "required": required, "properties": properties}
