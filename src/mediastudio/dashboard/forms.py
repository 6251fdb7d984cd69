"""The playground's form, made from a model's input JSON Schema, and read back into an input.

Only presentation: which widget shows which field, and turning the form's strings back into
JSON values. Whether an input is valid stays the catalog's answer (the model's own pydantic
model, through ``GenerationService.create``): a value this module cannot read as a number is
passed on as typed, so that the API's own message for it is the one shown.

A field goes into the input only when its value differs from the schema's default (an empty
box is "not given"), so the input a run sends, and the curl and Python snippets that repeat
it, hold what the user chose and nothing the model would assume anyway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

PREFIX = "input."  # form names and the API's error fields (field_prefix) alike: input.prompt
FILE_SUFFIX = ".file"  # the upload part beside a file field's text box: input.image_url.file
TEXTAREA_OVER = 200  # strings that may be longer than this (prompts, scripts) get a textarea
SLIDER_SPAN = 10_000  # bounds further apart than this (a seed) make a useless slider

FormValues = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class FormField:
    """One input field as the form shows it."""

    name: str
    label: str
    widget: str  # textarea | text | select | range | number | checkbox | multi | file | json
    description: str = ""
    required: bool = False
    default: Any = None
    options: tuple[str, ...] = ()
    choices: tuple[Any, ...] = ()  # the enum's values as JSON has them (options are their text)
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    value: Any = ""  # what the form shows: a string, a list (multi) or a bool (checkbox)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def form_name(self) -> str:
        return PREFIX + self.name

    @property
    def step(self) -> str:
        return "1" if self.integer else "any"


def _resolve(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A property's own schema, with ``$ref`` followed and ``X | None`` unwrapped; and whether
    null is allowed."""
    schema = dict(prop)
    nullable = False
    for _ in range(4):  # a ref to an anyOf to a ref is as deep as pydantic goes
        ref = schema.pop("$ref", None)
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            schema = {**defs.get(ref.removeprefix("#/$defs/"), {}), **schema}
            continue
        options = schema.get("anyOf")
        if isinstance(options, list):
            others = [item for item in options if item.get("type") != "null"]
            if len(others) < len(options):
                nullable = True
            if len(others) == 1:
                rest = {key: value for key, value in schema.items() if key != "anyOf"}
                schema = {**others[0], **rest}
                continue
        break
    return schema, nullable


def _is_file(name: str, schema: Mapping[str, Any]) -> bool:
    """A string the API also takes as an uploaded file's id (files/service.py: any ``*_url``
    input; an image to start from): the form offers an upload beside the URL box."""
    description = str(schema.get("description", ""))
    return name.endswith(("_url", "_image")) or "file_" in description


def _widget(name: str, schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if "enum" in schema:
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None and high - low <= SLIDER_SPAN:
            return "range"
        return "number"
    if kind == "string":
        if _is_file(name, schema):
            return "file"
        longest = schema.get("maxLength")
        return "textarea" if longest is None or longest > TEXTAREA_OVER else "text"
    if kind == "array" and "enum" in (schema.get("items") or {}):
        return "multi"
    return "json"  # objects, arrays of objects, unions: typed as JSON


def fields(schema: Mapping[str, Any]) -> list[FormField]:
    """The form of an input schema (``model_json_schema()``), in the schema's order, each
    field showing its default. A ``const`` field (one value only) is left out: nothing to
    choose."""
    defs = schema.get("$defs") or {}
    required = set(schema.get("required") or ())
    made = []
    for name, prop in (schema.get("properties") or {}).items():
        resolved, _ = _resolve(prop, defs)
        if "const" in resolved:
            continue
        widget = _widget(name, resolved)
        default = resolved.get("default")
        choices: tuple[Any, ...] = ()
        if widget == "select":
            choices = tuple(resolved["enum"])
        elif widget == "multi":
            choices = tuple(resolved["items"]["enum"])
        made.append(
            FormField(
                name=name,
                label=str(resolved.get("title") or name),
                widget=widget,
                description=str(resolved.get("description") or ""),
                required=name in required,
                default=default,
                options=tuple(str(choice) for choice in choices),
                choices=choices,
                minimum=resolved.get("minimum"),
                maximum=resolved.get("maximum"),
                integer=resolved.get("type") == "integer",
                value=_shown(widget, default),
            )
        )
    return made


def _shown(widget: str, value: Any) -> Any:
    """A JSON value as its widget shows it."""
    if widget == "checkbox":
        return bool(value)
    if widget == "multi":
        return [str(item) for item in value or ()]
    if value is None:
        return ""
    if widget == "json":
        return json.dumps(value, indent=2)
    return str(value)


def _one(values: FormValues, name: str) -> str:
    value = values.get(name, "")
    if isinstance(value, str):
        return value
    return value[-1] if value else ""


def _many(values: FormValues, name: str) -> list[str]:
    value = values.get(name, ())
    return [value] if isinstance(value, str) else list(value)


def _number(text: str, integer: bool) -> Any:
    """The number typed, or the text itself when it is none (the API's message says why)."""
    try:
        return int(text) if integer else float(text)
    except ValueError:
        if integer:
            try:  # "5.0" from a slider is 5; "5.5" stays text and the API refuses it
                as_float = float(text)
            except ValueError:
                return text
            return int(as_float) if as_float.is_integer() else text
        return text


def read(form: Sequence[FormField], values: FormValues) -> tuple[dict[str, Any], list[FormField]]:
    """The input that ``values`` (the submitted form, keyed ``input.<name>``) means, and the
    fields showing what was submitted, with an error on each that is not even JSON. Fields
    equal to their default, and empty ones, are left out of the input."""
    data: dict[str, Any] = {}
    shown: list[FormField] = []
    for item in form:
        key = item.form_name
        error = None
        value: Any
        if item.widget == "checkbox":
            checked = _one(values, key) != ""
            shown.append(replace(item, value=checked))
            if checked != bool(item.default):
                data[item.name] = checked
            continue
        if item.widget == "multi":
            picked = set(_many(values, key))
            chosen = [c for o, c in zip(item.options, item.choices, strict=True) if o in picked]
            shown.append(replace(item, value=[str(choice) for choice in chosen]))
            if set(map(str, chosen)) != {str(option) for option in item.default or ()}:
                data[item.name] = chosen
            continue
        text = _one(values, key)
        shown.append(replace(item, value=text))
        if not text.strip():
            continue
        if item.widget in ("number", "range"):
            value = _number(text.strip(), item.integer)
        elif item.widget == "json":
            try:
                value = json.loads(text)
            except ValueError as exc:
                error = f"Not JSON: {exc}"
                shown[-1] = replace(shown[-1], error=error)
                continue
        elif item.widget == "select" and text in item.options:
            value = item.choices[item.options.index(text)]  # 720, not "720"
        else:
            value = text
        if value != item.default:
            data[item.name] = value
    return data, shown


def with_errors(
    form: Sequence[FormField], errors: Sequence[Mapping[str, Any]]
) -> tuple[list[FormField], list[str]]:
    """The API's field errors (``{"field": "input.prompt", "message": …}``) put next to their
    fields; the ones of no single field (a rule across fields) returned for the form's top."""
    by_name: dict[str, list[str]] = {}
    general: list[str] = []
    names = {item.name for item in form}
    for error in errors:
        path = str(error.get("field", ""))
        name = path.removeprefix(PREFIX).split(".")[0] if path.startswith(PREFIX) else ""
        message = str(error.get("message", "invalid"))
        if name in names:
            by_name.setdefault(name, []).append(message)
        else:
            general.append(message)
    marked = [
        replace(item, error="; ".join(by_name[item.name])) if item.name in by_name else item
        for item in form
    ]
    return marked, general
