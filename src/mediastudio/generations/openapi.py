"""Create bodies in the OpenAPI document, as strict as the validation they go through.

A typed create (``POST /generate/image``, ``/images/upscale``…) validates its body twice: as the
typed request (the type's standard input plus the envelope fields), then, once the model is
chosen, the input part against that model's own input schema, which is often stricter (a
voice espeak-ng knows, a genre the composer plays). ``POST /generations`` validates ``input``
against the named model only. Which models exist is known once the engines are registered, so
the document gets them here, when it is first built:

- each typed request's schema gets ``anyOf`` one schema per model of its type: with ``model``
  naming it, that model's input plus the envelope; and, with ``model`` left out, the default
  models in the order the catalog tries them (a branch for a later one says that the body lacks
  a field an earlier one requires, which is when the catalog moves on);
- ``CreateGeneration`` gets ``anyOf`` one ``{model, input}`` per model of the catalog.

Retired models (catalog/lifecycle.py) are left out: a body naming one is answered 503.

A body valid by the document is therefore one the validation accepts (docs/api.md lists the few
cross-field rules JSON Schema cannot say). Routes mark their type with :func:`creates`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, create_model

from mediastudio.catalog.service import Catalog
from mediastudio.engines.contract import ModelSpec
from mediastudio.engines.schema import lacks_one_of
from mediastudio.generations.schemas import CreateGeneration, Envelope
from mediastudio.kit.openapi import REF_PREFIX, Document, Pass, add_models, operations

TYPE_KEY = "x-generation-type"
PATH_FIELDS_KEY = "x-generation-path-fields"


def creates(type_: str, *, path_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """``openapi_extra`` of a typed create route: the type of generation its body makes.
    ``path_fields`` are input fields the route fills from its path (``template_id`` of
    ``POST /templates/{template_id}/render``): the documented body leaves them out."""
    extra: dict[str, Any] = {TYPE_KEY: type_}
    if path_fields:
        extra[PATH_FIELDS_KEY] = list(path_fields)
    return extra


def document_bodies(catalog: Callable[[], Catalog]) -> Pass:
    """The pass that publishes every model's input in the create bodies."""

    def apply(document: Document) -> None:
        current = catalog()
        done: dict[str, str] = {}  # body component -> its type (one body may serve two routes)
        for _, _, operation in operations(document):
            body, type_ = _body_component(operation), operation.get(TYPE_KEY)
            if body is None or (type_ is None and body != CreateGeneration.__name__):
                continue
            kind = "" if type_ is None else str(type_)
            if body in done:
                if done[body] != kind:
                    raise ValueError(f"{body} is the body of two types of generation")
                continue
            done[body] = kind
            if kind:
                omit = tuple(operation.get(PATH_FIELDS_KEY, ()))
                _document_typed(document, current, kind, body, omit)
            else:
                _document_generic(document, current)

    return apply


def _body_component(operation: dict[str, Any]) -> str | None:
    schema = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    )
    ref = schema.get("$ref")
    return str(ref).removeprefix(REF_PREFIX) if ref else None


def _document_typed(
    document: Document, catalog: Catalog, type_: str, body: str, omit: tuple[str, ...] = ()
) -> None:
    named = [
        {
            "title": spec.id,
            "allOf": [_request(document, body, spec, omit)],
            "properties": {"model": {"const": spec.id, "description": spec.name}},
            "required": ["model"],
        }
        for spec in _runnable(catalog, catalog.list(type_))
    ]
    request = document["components"]["schemas"][body]
    branches = [*named, *_default_branches(document, catalog, type_, body, omit)]
    if branches:
        request["anyOf"] = branches
        note = (
            "The input is validated against the model's own input schema: the body is one of "
            f"the schemas below, with `model` naming a model of type `{type_}` "
            f"(GET /api/v1/models?type={type_}), or without `model` for the default."
        )
    else:  # JSON Schema has no empty anyOf; the route answers 503 model_unavailable
        note = f"No engine on this server makes `{type_}`: a create answers 503."
    request["description"] = f"{request.get('description', '')}\n\n{note}".strip()


def _default_branches(
    document: Document, catalog: Catalog, type_: str, body: str, omit: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """One branch per model a body without ``model`` may get, for the bodies that reach it."""
    branches: list[dict[str, Any]] = []
    earlier: list[frozenset[str]] = []
    for spec in catalog.default_order(type_):
        required = _required(spec) - frozenset(omit)
        if any(before <= required for before in earlier):
            continue  # every body this model takes, an earlier one takes first
        skipped = [lacks_one_of(before) for before in earlier]
        branches.append(
            {
                "title": f"default: {spec.id}",
                "allOf": [_request(document, body, spec, omit), *skipped],
                "properties": {"model": {"type": "null", "description": "Left out: the default"}},
            }
        )
        earlier.append(required)
    return branches


def _required(spec: ModelSpec) -> frozenset[str]:
    return frozenset(name for name, f in spec.input_model.model_fields.items() if f.is_required())


def _request(
    document: Document, body: str, spec: ModelSpec, omit: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A ``$ref`` to the body for ``spec``: its input plus the envelope fields, less the
    fields the route fills from its path (``omit``)."""
    name = "_".join(re.sub(r"[^A-Za-z0-9]+", "_", part) for part in (body, spec.id))
    schemas = document["components"]["schemas"]
    if name not in schemas:
        request: type[BaseModel] = create_model(name, __base__=(spec.input_model, Envelope))
        add_models(document, [request])
        for field in omit:
            schemas[name].get("properties", {}).pop(field, None)
            if field in schemas[name].get("required", []):
                schemas[name]["required"].remove(field)
    return {"$ref": REF_PREFIX + name}


def _runnable(catalog: Catalog, specs: list[ModelSpec]) -> list[ModelSpec]:
    """The models a body may name: not the retired ones, which every create refuses (503
    ``model_unavailable``, catalog/lifecycle.py), as of when the document is built."""
    return [spec for spec in specs if not catalog.retired(spec)]


def _document_generic(document: Document, catalog: Catalog) -> None:
    specs = _runnable(catalog, catalog.list(None))
    if not specs:
        return
    inputs = add_models(document, [spec.input_model for spec in specs])
    request = document["components"]["schemas"][CreateGeneration.__name__]
    request["anyOf"] = [
        {
            "title": spec.id,
            "properties": {"model": {"const": spec.id}, "input": input_ref},
            "required": ["model", "input"],
        }
        for spec, input_ref in zip(specs, inputs, strict=True)
    ]
