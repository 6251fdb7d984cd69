"""A pydantic model as a finished JSON response, serialised by pydantic-core.

The create routes build their 202 response themselves (a ``Location`` header, ``Sunset`` on a
deprecated model): ``JSONResponse(model.model_dump(mode="json"))`` built a dict and ran the
standard library's encoder over it, about twice what pydantic-core's own JSON serialiser costs
for the same bytes (measured: 16.7 against 8.0 us for a ``GenerationRead``; docs/benchmarks.md).
Routes that return a model and let FastAPI's ``response_model`` render it already get that
serialiser, so they are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def model_response(
    model: BaseModel, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``model`` as ``application/json`` (by alias, as FastAPI would render it)."""
    return Response(
        model.model_dump_json(by_alias=True),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )
