"""JSON Schema for what an input model's validators check beyond its fields' own bounds.

An input's JSON Schema is the API's contract (``GET /models/{id}``, the create bodies in
``/openapi.json``): a body valid by the schema must be accepted. Pydantic writes each field's
type and bounds, but not what a ``model_validator`` checks across fields (``aspect_ratio`` or
``width``/``height``), nor that strings are stripped before their length is checked. Inputs say
those rules here, in JSON Schema, next to the validators (``StrictInput.schema_rules``).

Regular expressions use explicit character classes rather than ``\\s``: JSON Schema's regex
dialect (ECMA 262), Rust's (the validator pydantic-core uses) and Python's disagree on which
characters are white space.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

JsonSchema = dict[str, Any]

# What pydantic's str_strip_whitespace strips (Unicode White_Space, as Rust's str::trim).
_TRIMMED = (
    "\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
# What Python's str.split() splits on (str.isspace): the same and the four separators \x1c-\x1f.
_SPLIT = _TRIMMED + "\\u001c-\\u001f"


# Rules are spelled positively (no ``not``): fuzzers and form generators draw values from a
# schema, and a negation is what they handle worst.


def present(name: str, json_type: str) -> JsonSchema:
    """``name`` is given and not null."""
    return {"required": [name], "properties": {name: {"type": json_type}}}


def null(name: str) -> JsonSchema:
    """``name`` is left out or null."""
    return {"properties": {name: {"type": "null"}}}


def lacks_one_of(names: Iterable[str]) -> JsonSchema:
    """At least one of ``names`` is left out."""
    return {"anyOf": [{"properties": {name: False}} for name in sorted(names)]}


def not_blank(min_length: int) -> str:
    """A pattern for strings still ``min_length`` long once stripped of white space."""
    if min_length <= 1:
        return f"[^{_TRIMMED}]"
    return f"[^{_TRIMMED}][\\s\\S]{{{min_length - 2},}}[^{_TRIMMED}]"


def at_most_words(count: int) -> str:
    """A pattern for text of at most ``count`` words, as ``len(text.split())`` counts them."""
    word, gap = f"[^{_SPLIT}]+", f"[{_SPLIT}]"
    return f"^{gap}*(?:{word}(?:{gap}+|$)){{0,{count}}}$"


def one_of_words(words: Iterable[str]) -> str:
    """An alternation of literal words (ids of voices, languages…) for a pattern."""
    return "|".join(_escape(word) for word in sorted(words, key=lambda w: (-len(w), w)))


def _escape(word: str) -> str:
    # Only the characters special outside a class: ECMA 262's unicode mode refuses "\\-".
    return "".join(f"\\{char}" if char in "\\^$.|?*+()[]{}" else char for char in word)


def strip_aware(schema: JsonSchema) -> None:
    """Add :func:`not_blank` to every string property of ``schema`` with a ``minLength``
    (in place; nested models have their own schemas and rules)."""
    for prop in schema.get("properties", {}).values():
        _strip_aware_value(prop)


def _strip_aware_value(schema: JsonSchema) -> None:
    for branch in schema.get("anyOf", ()):
        _strip_aware_value(branch)
    if isinstance(schema.get("items"), dict):
        _strip_aware_value(schema["items"])
    minimum = schema.get("minLength")
    if schema.get("type") == "string" and isinstance(minimum, int) and minimum > 0:
        blank_check = {"pattern": not_blank(minimum)}
        if "pattern" in schema:
            schema.setdefault("allOf", []).append(blank_check)
        else:
            schema.update(blank_check)
