"""The SSE routes in the OpenAPI document: which events a stream sends, with their data."""

from __future__ import annotations

from typing import Any

from mediastudio.events.schemas import STREAM_EVENTS, sse_item_schema
from mediastudio.kit.openapi import REF_PREFIX, Document, operations

SSE = "text/event-stream"
JSON = "application/json"


def document_streams(document: Document) -> None:
    """Turn each ``text/event-stream`` response's model, which FastAPI documents as JSON, into
    the schema of each event the stream may send (OpenAPI 3.2's ``itemSchema``)."""
    for _, _, operation in operations(document):
        for response in operation.get("responses", {}).values():
            content = response.get("content", {})
            if SSE in content:
                refs = _refs_by_title(document, content.pop(JSON, {}).get("schema", {}))
                events = [
                    sse_item_schema(event, refs[model.__name__], has_id)
                    for event, (model, has_id) in STREAM_EVENTS.items()
                ]
                content[SSE] = {"itemSchema": {"oneOf": events}}


def _refs_by_title(document: Document, union: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The members of a documented union by their model's name (FastAPI may name a component
    otherwise, e.g. when two modules have a class of the same name)."""
    schemas = document["components"]["schemas"]
    refs = [member["$ref"] for member in union.get("anyOf", [union]) if "$ref" in member]
    return {schemas[ref.removeprefix(REF_PREFIX)]["title"]: {"$ref": ref} for ref in refs}
