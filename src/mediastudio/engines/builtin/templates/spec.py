"""The template file format (JSON): a canvas, colour variables, and layers drawn in order.

A template is data, not code, so operators add their own without a release; each file is
validated in full when the server starts (:func:`load_library`), and a broken one stops the
start with its path and the failing field, not a job that fails later. docs/templates.md is
the reference.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

BUILTIN_DIR = Path(__file__).parent / "library"
TEMPLATE_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
HEX_COLOR = r"^#[0-9a-fA-F]{6}$"
# A colour is "#rrggbb", or "$name": a colour variable the caller may override.
COLOR = r"^(#[0-9a-fA-F]{6}|\$[a-z][a-z0-9_]{0,31})$"
SLOT = r"^[a-z][a-z0-9_]{0,31}$"
MAX_SIDE = 4096
MAX_DURATION_S = 30.0
MAX_LAYERS = 64

Color = Annotated[str, Field(pattern=COLOR)]
Box = Annotated[
    tuple[int, int, int, int],
    Field(description="x, y, width, height in canvas pixels"),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Animation(_Strict):
    """How a layer enters (video templates): it is hidden until ``start_s``, then fades or
    slides into place over ``duration_s``; ``exit_s`` fades it out again from then on."""

    enter: Literal["fade", "slide-up", "slide-down", "slide-left", "slide-right", "zoom"] = "fade"
    start_s: float = Field(0.0, ge=0.0, le=MAX_DURATION_S)
    duration_s: float = Field(0.6, gt=0.0, le=MAX_DURATION_S)
    distance: float = Field(0.08, ge=0.0, le=1.0, description="slide length, of the canvas side")
    exit_s: float | None = Field(None, ge=0.0, le=MAX_DURATION_S)


class _Layer(_Strict):
    box: Box
    opacity: float = Field(1.0, ge=0.0, le=1.0)
    animate: Animation | None = None

    @field_validator("box")
    @classmethod
    def _bounded(cls, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x, y, width, height = box
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
            raise ValueError(f"a box is 1 to {MAX_SIDE} pixels wide and high")
        if not (-MAX_SIDE <= x <= MAX_SIDE and -MAX_SIDE <= y <= MAX_SIDE):
            raise ValueError(f"a box starts within {MAX_SIDE} pixels of the canvas")
        return box


class ShapeLayer(_Layer):
    kind: Literal["rect", "ellipse"]
    fill: Color
    radius: int = Field(0, ge=0, le=MAX_SIDE, description="corner radius (rect)")


class TextLayer(_Layer):
    kind: Literal["text"]
    slot: str = Field(pattern=SLOT)
    required: bool = False
    default: str = Field("", max_length=2000)
    max_chars: int = Field(200, ge=1, le=2000)
    color: Color = "#ffffff"
    font_size: int = Field(64, ge=6, le=1000)
    min_font_size: int = Field(16, ge=6, le=1000)
    bold: bool = False
    uppercase: bool = False
    align: Literal["left", "center", "right"] = "left"
    valign: Literal["top", "middle", "bottom"] = "top"
    line_spacing: float = Field(1.2, ge=0.8, le=3.0)


class ImageLayer(_Layer):
    kind: Literal["image"]
    slot: str = Field(pattern=SLOT)
    required: bool = False
    fit: Literal["cover", "contain"] = "cover"
    radius: int = Field(0, ge=0, le=MAX_SIDE)
    placeholder: Color | None = Field(None, description="drawn when no image is given")


Layer = Annotated[ShapeLayer | TextLayer | ImageLayer, Field(discriminator="kind")]


class Canvas(_Strict):
    width: int = Field(ge=16, le=MAX_SIDE)
    height: int = Field(ge=16, le=MAX_SIDE)
    background: Color = "#ffffff"


class Template(_Strict):
    id: str = Field(pattern=TEMPLATE_ID)
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=1000)
    type: Literal["image", "video"]
    category: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9-]*$")
    tags: tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")], ...] = ()
    canvas: Canvas
    colors: dict[Annotated[str, Field(pattern=SLOT)], Annotated[str, Field(pattern=HEX_COLOR)]] = (
        Field(default_factory=dict)
    )
    duration_s: float | None = Field(None, gt=0.0, le=MAX_DURATION_S)
    fps: int | None = Field(None, ge=1, le=60)
    layers: tuple[Layer, ...] = Field(min_length=1, max_length=MAX_LAYERS)

    @model_validator(mode="after")
    def _coherent(self) -> Template:
        if self.type == "video":
            if self.duration_s is None or self.fps is None:
                raise ValueError("a video template needs duration_s and fps")
            if self.canvas.width % 2 or self.canvas.height % 2:
                raise ValueError("a video canvas needs an even width and height (H.264)")
        elif self.duration_s is not None or self.fps is not None:
            raise ValueError("duration_s and fps are for video templates only")
        elif any(layer.animate is not None for layer in self.layers):
            raise ValueError("animations are for video templates only")
        for reference in self._color_references():
            if reference.startswith("$") and reference[1:] not in self.colors:
                raise ValueError(f"colour variable {reference} is not declared in colors")
        slots = [layer.slot for layer in self.layers if not isinstance(layer, ShapeLayer)]
        if len(slots) != len(set(slots)):
            raise ValueError("two layers share one slot name")
        for layer in self.layers:
            if isinstance(layer, TextLayer) and layer.min_font_size > layer.font_size:
                raise ValueError(f"text slot {layer.slot}: min_font_size is above font_size")
        return self

    def _color_references(self) -> Iterator[str]:
        yield self.canvas.background
        for layer in self.layers:
            if isinstance(layer, ShapeLayer):
                yield layer.fill
            elif isinstance(layer, TextLayer):
                yield layer.color
            elif layer.placeholder is not None:
                yield layer.placeholder

    @property
    def text_slots(self) -> list[TextLayer]:
        return [layer for layer in self.layers if isinstance(layer, TextLayer)]

    @property
    def image_slots(self) -> list[ImageLayer]:
        return [layer for layer in self.layers if isinstance(layer, ImageLayer)]

    @property
    def frames(self) -> int:
        assert self.duration_s is not None and self.fps is not None
        return round(self.duration_s * self.fps)


class TemplateError(ValueError):
    """A template file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class TemplateLibrary:
    """Every template this server offers, by id: the built-ins, then the operator's."""

    templates: dict[str, Template] = field(default_factory=dict)

    def get(self, template_id: str) -> Template | None:
        return self.templates.get(template_id)

    def __iter__(self) -> Iterator[Template]:
        return iter(sorted(self.templates.values(), key=lambda t: t.id))

    def __len__(self) -> int:
        return len(self.templates)


def parse_template(path: Path) -> Template:
    """One template file, validated; :class:`TemplateError` says what is wrong and where."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"template file {path}: not readable JSON: {exc}") from exc
    try:
        template = Template.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(file)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise TemplateError(f"template file {path}: {problems}") from exc
    if path.stem != template.id:
        raise TemplateError(f"template file {path}: its id {template.id!r} must be its file name")
    return template


def _files(directory: Path) -> Iterable[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix == ".json" and p.is_file())


def load_library(extra_dir: Path | None = None) -> TemplateLibrary:
    """The built-in templates plus those in ``extra_dir`` (``MEDIASTUDIO_TEMPLATES_DIR``); an
    operator's template may replace a built-in of the same id on purpose (a house style)."""
    templates = {t.id: t for t in map(parse_template, _files(BUILTIN_DIR))}
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise TemplateError(f"MEDIASTUDIO_TEMPLATES_DIR {extra_dir} is not a directory")
        for path in _files(extra_dir):
            template = parse_template(path)
            templates[template.id] = template
    return TemplateLibrary(templates)


def resolve_color(value: str, colors: dict[str, str]) -> tuple[int, int, int]:
    """``#rrggbb`` or ``$name`` (looked up in ``colors``) as RGB."""
    hex_value = colors[value[1:]] if value.startswith("$") else value
    if not re.fullmatch(HEX_COLOR, hex_value):
        raise ValueError(f"not a colour: {hex_value!r}")
    return tuple(int(hex_value[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
