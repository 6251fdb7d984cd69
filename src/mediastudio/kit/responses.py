"""A pydantic model as a finished JSON response, serialised once by pydantic-core.

A route declared with ``response_model`` that returns the model lets FastAPI check the instance
against that model again and serialise it; on the hot routes (a create, a read) that second
pass costs more than the work it guards, since the model was just built and validated by
``present``. Returning :func:`model_response` hands FastAPI a ``Response``, which it sends as
is, while the decorator's ``response_model`` still documents the body in OpenAPI.
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
