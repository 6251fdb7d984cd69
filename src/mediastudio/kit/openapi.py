"""The published OpenAPI document: FastAPI's, finished by passes that keep it a contract.

FastAPI writes the document from the routes. What the routes cannot say about themselves is
added by passes run once, when the document is first asked for: the request bodies of the
engines' models (known only once the registry is built), the events of the SSE streams, and the
error responses every route shares. Clients generate SDKs from the document and fuzzers check
it, so it must describe every status a route can answer and no body the server refuses.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

Document = dict[str, Any]
Operation = dict[str, Any]
Pass = Callable[[Document], None]

REF_PREFIX = "#/components/schemas/"
ENVELOPE_REF = {"$ref": f"{REF_PREFIX}ErrorEnvelope"}
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# FastAPI documents a 422 with these schemas on every route that takes input; the API renders
# validation errors as 400 invalid_request instead (kit/errors.py), so they describe nothing.
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI, passes: Sequence[Pass]) -> None:
    """Serve FastAPI's document finished by ``passes`` (in order), built once and then cached."""
    build = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            document = build()
            app.openapi_schema = None  # not cached until every pass has run
            for apply in passes:
                apply(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def operations(document: Document) -> Iterator[tuple[str, str, Operation]]:
    """Every ``(path, method, operation)`` of the document."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def error(description: str) -> dict[str, Any]:
    """A documented error response: the envelope every error has."""
    return {
        "description": description,
        "content": {"application/json": {"schema": dict(ENVELOPE_REF)}},
    }


def add_models(
    document: Document, models: Sequence[type[BaseModel]], *, mode: str = "validation"
) -> list[dict[str, Any]]:
    """Put the models' JSON Schemas (and the models they use) into the document's components;
    return a ``$ref`` to each. A schema FastAPI already has under the same name is reused; a
    different one under a taken name (two classes with one name) gets a name of its own."""
    pairs = [(model, mode) for model in models]
    refs, definitions = models_json_schema(
        pairs,  # type: ignore[arg-type]
        ref_template=REF_PREFIX + "{model}",
    )
    defs: dict[str, Any] = definitions.get("$defs", {})
    components = document.setdefault("components", {}).setdefault("schemas", {})
    names = {name: name for name in defs}
    changed = True
    while changed:  # a renamed model changes the schemas that refer to it: look again
        changed = False
        for name, schema in defs.items():
            existing = components.get(names[name])
            mine = _renamed(schema, names)
            if existing is not None and _without_defaults(existing) != _without_defaults(mine):
                names[name] = _free_name(names[name], components, names.values())
                changed = True
    for name, schema in defs.items():
        components.setdefault(names[name], _renamed(schema, names))
    return [_renamed(refs[pair], names) for pair in pairs]  # type: ignore[index]


def _renamed(schema: Any, names: dict[str, str]) -> Any:
    """``schema`` with its ``$ref`` s to renamed components following them."""
    if isinstance(schema, dict):
        return {
            key: (
                REF_PREFIX
                + names.get(value.removeprefix(REF_PREFIX), value.removeprefix(REF_PREFIX))
                if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX)
                else _renamed(value, names)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_renamed(item, names) for item in schema]
    return schema


def _free_name(name: str, components: dict[str, Any], taken: Iterable[str]) -> str:
    used = set(components) | set(taken)
    return next(f"{name}_{n}" for n in itertools.count(2) if f"{name}_{n}" not in used)


def _without_defaults(schema: Any) -> Any:
    """A schema without its ``default`` values (FastAPI leaves out ``"default": null``)."""
    if isinstance(schema, dict):
        return {k: _without_defaults(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [_without_defaults(item) for item in schema]
    return schema


# The error responses every route shares ------------------------------------------------------


def document_errors(document: Document) -> None:
    """Give every operation the error statuses the shared machinery can answer for it, in the
    envelope, and drop FastAPI's 422 (validation errors are 400 here).

    A route adds its own statuses (402, 409, 503…) with ``responses=``; this pass covers what
    every route gets from the middleware, the handlers and the auth dependencies, so a new
    route is documented without anyone remembering to."""
    for _, _, operation in operations(document):
        responses: dict[str, Any] = operation.setdefault("responses", {})
        if _is_fastapi_validation(responses.get("422")):
            del responses["422"]
        for status, description in _shared_errors(operation):
            responses.setdefault(str(status), error(description))
        operation["responses"] = dict(sorted(responses.items()))
    _drop_unused(document, FASTAPI_VALIDATION)


def _shared_errors(operation: Operation) -> Iterator[tuple[int, str]]:
    takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
    if takes_input:
        yield 400, "invalid_request: a parameter or the body is invalid (details.fields)"
    if operation.get("security"):
        yield 401, "missing_api_key, invalid_api_key, expired_api_key"
        yield 403, "insufficient_scope, ip_not_allowed"
        yield 429, "rate_limited (see Retry-After)"
    if operation.get("requestBody"):
        yield 413, "file_too_large: the body is over the server's limit"
    yield 500, "internal_error (no internals: they are in the server log)"


def _is_fastapi_validation(response: Any) -> bool:
    if not isinstance(response, dict):
        return False
    schemas = [media.get("schema", {}) for media in response.get("content", {}).values()]
    return any(s.get("$ref") == f"{REF_PREFIX}HTTPValidationError" for s in schemas)


def _drop_unused(document: Document, names: Sequence[str]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    for name in names:
        schema = schemas.pop(name, None)
        if schema is not None and f'"{REF_PREFIX}{name}"' in json.dumps(document):
            schemas[name] = schema  # still referenced somewhere: keep it
