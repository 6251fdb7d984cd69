"""The SSE routes in the OpenAPI document: which events a stream sends, with their data."""

from __future__ import annotations

from mediastudio.events.schemas import STREAM_EVENTS, sse_item_schema
from mediastudio.kit.openapi import Document, add_models, operations

SSE = "text/event-stream"


def document_streams(document: Document) -> None:
    """Give every ``text/event-stream`` response the schema of each event it may send."""
    models = list(dict.fromkeys(model for model, _ in STREAM_EVENTS.values()))
    refs = dict(zip(models, add_models(document, models, mode="serialization"), strict=True))
    item = {
        "oneOf": [
            sse_item_schema(event, refs[model], has_id)
            for event, (model, has_id) in STREAM_EVENTS.items()
        ]
    }
    for _, _, operation in operations(document):
        for response in operation.get("responses", {}).values():
            content = response.get("content", {})
            if SSE in content:
                content[SSE] = {"itemSchema": item}
