"""A render's input schema says what its validators check: a body valid by the published
schema (GET /api/v1/models/builtin/template) is one the model accepts, and the reverse."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from pydantic import ValidationError

from mediastudio.engines.builtin.templates.engine import (
    TemplateImageInput,
    TemplateInput,
    TemplateVideoInput,
    bound_input,
)
from mediastudio.engines.builtin.templates.spec import load_library

LIBRARY = load_library()
IMAGE = bound_input(TemplateImageInput, LIBRARY)
VIDEO = bound_input(TemplateVideoInput, LIBRARY)
QUOTE = {"template_id": "quote-card", "texts": {"quote": "Hi"}}

CASES: list[tuple[type[TemplateInput], dict[str, Any], bool]] = [
    (IMAGE, QUOTE, True),
    (IMAGE, {**QUOTE, "texts": {"quote": "Hi", "author": "Me"}}, True),
    (IMAGE, {**QUOTE, "texts": {"quote": "Hi", "title": "x"}}, False),
    (IMAGE, {**QUOTE, "texts": {"author": "Me"}}, False),
    (IMAGE, {**QUOTE, "texts": {"quote": "   "}}, False),
    (IMAGE, {**QUOTE, "texts": {"quote": "x" * 401}}, False),
    (IMAGE, {"template_id": "quote-card"}, False),
    (IMAGE, {**QUOTE, "colors": {"accent": "#112233"}}, True),
    (IMAGE, {**QUOTE, "colors": {"glow": "#112233"}}, False),
    (IMAGE, {**QUOTE, "colors": {"accent": "blue"}}, False),
    (IMAGE, {**QUOTE, "images": {"portrait": "file_abc"}}, True),
    (IMAGE, {**QUOTE, "images": {"logo": "file_abc"}}, False),
    (IMAGE, {**QUOTE, "output_format": "webp"}, True),
    (IMAGE, {"template_id": "title-card", "texts": {"title": "x"}}, False),
    (IMAGE, {"template_id": "nope"}, False),
    (VIDEO, {"template_id": "title-card", "texts": {"title": "x"}}, True),
    (VIDEO, {"template_id": "title-card", "texts": {"title": "x"}, "output_format": "png"}, False),
    (VIDEO, QUOTE, False),
]


@pytest.mark.parametrize(("model", "body", "accepted"), CASES)
def test_the_schema_agrees_with_the_validators(
    model: type[TemplateInput], body: dict[str, Any], accepted: bool
) -> None:
    try:
        model.model_validate(body)
        valid = True
    except ValidationError:
        valid = False
    assert valid == accepted, body
    schema = jsonschema_rs.validator_for(model.model_json_schema())
    assert schema.is_valid(body) == accepted, body
