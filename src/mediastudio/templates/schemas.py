"""Template catalog and render bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mediastudio.engines.builtin.templates.spec import Template
from mediastudio.generations.schemas import Envelope
from mediastudio.kit.examples import EXAMPLE_IMAGE


class TextSlotRead(BaseModel):
    name: str
    required: bool
    default: str = Field(description="Drawn when the render gives no text for the slot")
    max_chars: int
    width: int = Field(description="The slot's box, in canvas pixels: long text shrinks to fit")
    height: int


class ImageSlotRead(BaseModel):
    name: str
    required: bool
    fit: Literal["cover", "contain"]
    width: int = Field(description="The slot's box: an image of this aspect fills it exactly")
    height: int


class TemplateRead(BaseModel):
    id: str
    name: str
    description: str
    type: Literal["image", "video"]
    category: str
    tags: list[str]
    width: int
    height: int
    duration_s: float | None = Field(None, description="Video templates")
    fps: int | None = Field(None, description="Video templates")
    model: str = Field(description="The catalog model a render of it runs")
    credits: int = Field(description="Credits one render costs")
    output_formats: list[str]
    texts: list[TextSlotRead]
    images: list[ImageSlotRead]
    colors: dict[str, str] = Field(description="Colour variables with their defaults (#rrggbb)")
    preview_url: str = Field(
        description="A PNG of the template drawn with its defaults, at its size (public)"
    )


class TemplateList(BaseModel):
    data: list[TemplateRead]
    total: int = Field(description="Templates matching the filters, on every page")
    has_more: bool
    next_cursor: str | None = Field(None, description="Pass as starting_after for the next page")


def present(template: Template, model: str, credits: int, preview_url: str) -> TemplateRead:
    video = template.type == "video"
    return TemplateRead(
        id=template.id,
        name=template.name,
        description=template.description,
        type=template.type,
        category=template.category,
        tags=list(template.tags),
        width=template.canvas.width,
        height=template.canvas.height,
        duration_s=template.duration_s,
        fps=template.fps,
        model=model,
        credits=credits,
        output_formats=["mp4"] if video else ["png", "jpg", "webp"],
        texts=[
            TextSlotRead(
                name=t.slot,
                required=t.required,
                default=t.default,
                max_chars=t.max_chars,
                width=t.box[2],
                height=t.box[3],
            )
            for t in template.text_slots
        ],
        images=[
            ImageSlotRead(
                name=i.slot, required=i.required, fit=i.fit, width=i.box[2], height=i.box[3]
            )
            for i in template.image_slots
        ],
        colors=dict(template.colors),
        preview_url=preview_url,
    )


EXAMPLE: dict[str, Any] = {
    "texts": {"headline": "Meet the new Aero 2", "subheadline": "Lighter, faster, quieter."},
    "images": {"product": EXAMPLE_IMAGE},
    "colors": {"accent": "#f59e0b"},
    "output_format": "png",
}


class TemplateRenderRequest(Envelope):
    """The data for one render; the slots are the template's (GET /api/v1/templates/{id})."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE]})

    texts: dict[str, str] | None = Field(None, description="Text per text slot")
    images: dict[str, str] | None = Field(
        None, description="Image per image slot: an https URL, a data: URI or a file id"
    )
    colors: dict[str, str] | None = Field(None, description="#rrggbb per colour variable")
    output_format: Literal["png", "jpg", "webp", "mp4"] | None = Field(
        None, description="png (default), jpg or webp for image templates; mp4 for video ones"
    )


class TemplateJob(TemplateRenderRequest):
    """The render as a generation: the body with the path's template id."""

    template_id: str
