"""The ``templates`` engine: a declarative template (spec.py) filled with the caller's texts,
images and colours, rendered locally with Pillow (and encoded with PyAV for video templates).

Two models, one per output kind, so that a job needs the scope of what it makes
(``generate:image`` or ``generate:video``). Their inputs are bound to the server's template
library when the engine is built: an unknown template, slot or colour variable, or a missing
required slot, is refused by input validation (400 ``invalid_request``) before any credit
moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from mediastudio.engines.builtin.image_tools.source import ImageUrl, JobMemory
from mediastudio.engines.builtin.templates.render import RenderData, render_frames, render_image
from mediastudio.engines.builtin.templates.spec import (
    HEX_COLOR,
    SLOT,
    TEMPLATE_ID,
    Template,
    TemplateLibrary,
    load_library,
)
from mediastudio.engines.contract import (
    Engine,
    InputFetcher,
    InvalidInput,
    ModelSpec,
    OutputFile,
    PlannedOutput,
    RunContext,
)
from mediastudio.engines.inputs import StrictInput
from mediastudio.engines.media.images import (
    DECODE_BYTES_PER_PIXEL,
    add_image_output,
    open_image,
    planned_image,
    read_header,
)
from mediastudio.engines.media.video import CANCEL_CHECK_FRAMES, VideoWriter, planned_video
from mediastudio.engines.registry import EngineRegistry
from mediastudio.engines.schema import JsonSchema, not_blank
from mediastudio.settings import Settings

TEMPLATE_TYPE = "template"
IMAGE_MODEL = "builtin/template"
VIDEO_MODEL = "builtin/template-video"
MAX_TEXT = 2000
MAX_SLOTS = 32

SlotName = Annotated[str, Field(pattern=SLOT)]
HexColor = Annotated[str, Field(pattern=HEX_COLOR)]


class TemplateInput(StrictInput):
    """A render of one template; the slots are the template's (GET /api/v1/templates/{id})."""

    template_id: str = Field(pattern=TEMPLATE_ID, description="The template's id")
    texts: dict[SlotName, Annotated[str, Field(max_length=MAX_TEXT)]] = Field(
        default_factory=dict,
        max_length=MAX_SLOTS,
        validate_default=True,  # a required slot is missing when ``texts`` is left out too
        description="Text per text slot",
    )
    images: dict[SlotName, ImageUrl] = Field(
        default_factory=dict,
        max_length=MAX_SLOTS,
        validate_default=True,
        description="Image per image slot: an https URL, a data: URI or an uploaded file's id",
    )
    colors: dict[SlotName, HexColor] = Field(
        default_factory=dict,
        max_length=MAX_SLOTS,
        description="#rrggbb per colour variable, over the template's defaults",
    )

    # Set on the subclass the engine builds (bound_input): the templates it may name.
    library: ClassVar[TemplateLibrary | None] = None
    kind: ClassVar[Literal["image", "video"]] = "image"

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        """The library's rules in JSON Schema: ``template_id`` names a template of this kind,
        and the slots and colour variables are that template's."""
        rules = super().schema_rules()
        if cls.library is None:
            return rules
        mine = [template for template in cls.library if template.type == cls.kind]
        if not mine:
            return [*rules, {"required": ["template_id"], "properties": {"template_id": False}}]
        return [*rules, {"anyOf": [_template_rule(template) for template in mine]}]

    @field_validator("template_id")
    @classmethod
    def _known(cls, value: str) -> str:
        if cls.library is None:
            return value
        template = cls.library.get(value)
        if template is None:
            raise ValueError(f"no template {value!r} (GET /api/v1/templates lists them)")
        if template.type != cls.kind:
            other = VIDEO_MODEL if template.type == "video" else IMAGE_MODEL
            raise ValueError(f"{value!r} is a {template.type} template: render it with {other}")
        return value

    @classmethod
    def _template(cls, info: ValidationInfo) -> Template | None:
        template_id = info.data.get("template_id")
        if cls.library is None or template_id is None:
            return None
        return cls.library.get(template_id)

    @field_validator("texts")
    @classmethod
    def _texts(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        template = cls._template(info)
        if template is not None:
            slots = {layer.slot: layer for layer in template.text_slots}
            _check_slots("text", set(value), slots, {s for s, v in value.items() if v.strip()})
            for name, text in value.items():
                if len(text) > slots[name].max_chars:
                    raise ValueError(
                        f"text slot {name!r} takes at most {slots[name].max_chars} characters"
                    )
        return value

    @field_validator("images")
    @classmethod
    def _images(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        template = cls._template(info)
        if template is not None:
            slots = {layer.slot: layer for layer in template.image_slots}
            _check_slots("image", set(value), slots, set(value))
        return value

    @field_validator("colors")
    @classmethod
    def _colors(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        template = cls._template(info)
        if template is not None:
            unknown = sorted(set(value) - set(template.colors))
            if unknown:
                known = ", ".join(sorted(template.colors)) or "none"
                raise ValueError(f"unknown colour variable(s) {unknown}; this template's: {known}")
        return value


def _names(names: list[str]) -> JsonSchema:
    """An object whose keys are among ``names``."""
    return {"propertyNames": {"enum": names}} if names else {"maxProperties": 0}


def _template_rule(template: Template) -> JsonSchema:
    """What :class:`TemplateInput`'s validators accept for ``template``."""
    texts: JsonSchema = {
        **_names([t.slot for t in template.text_slots]),
        "properties": {
            t.slot: {"type": "string", "maxLength": t.max_chars}
            | ({"pattern": not_blank(1)} if t.required else {})
            for t in template.text_slots
        },
        "required": [t.slot for t in template.text_slots if t.required],
    }
    images: JsonSchema = {
        **_names([i.slot for i in template.image_slots]),
        "required": [i.slot for i in template.image_slots if i.required],
    }
    needs = [name for name, rule in (("texts", texts), ("images", images)) if rule["required"]]
    return {
        "properties": {
            "template_id": {"const": template.id},
            "texts": texts,
            "images": images,
            "colors": _names(sorted(template.colors)),
        },
        # template_id is required by the input itself; left out here so that the body of
        # POST /templates/{id}/render, whose id is in the path, matches its template's branch.
        "required": needs,
    }


def _check_slots(kind: str, given: set[str], slots: dict[str, Any], filled: set[str]) -> None:
    unknown = sorted(given - set(slots))
    if unknown:
        known = ", ".join(sorted(slots)) or "none"
        raise ValueError(f"unknown {kind} slot(s) {unknown}; this template's: {known}")
    missing = sorted(name for name, layer in slots.items() if layer.required and name not in filled)
    if missing:
        raise ValueError(f"required {kind} slot(s) missing: {missing}")


class TemplateImageInput(TemplateInput):
    output_format: Literal["png", "jpg", "webp"] = Field("png", description="File format")


class TemplateVideoInput(TemplateInput):
    kind: ClassVar[Literal["image", "video"]] = "video"
    output_format: Literal["mp4"] = Field("mp4", description="H.264 in MP4")


def bound_input(base: type[TemplateInput], library: TemplateLibrary) -> type[TemplateInput]:
    """``base`` checking its template and slots against ``library``."""
    return type(base.__name__, (base,), {"library": library, "__module__": base.__module__})


def _template_of(validated: BaseModel) -> Template:
    assert isinstance(validated, TemplateInput)
    library = type(validated).library
    template = library.get(validated.template_id) if library is not None else None
    if template is None:  # a job stored before an operator removed the template
        raise InvalidInput(f"The template {validated.template_id!r} is no longer installed.")
    return template


def _probe_images(validated: TemplateInput, fetcher: InputFetcher) -> None:
    for url in validated.images.values():
        read_header(fetcher.fetch(url))  # refused as the render would refuse it


def plan_image(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    assert isinstance(validated, TemplateImageInput)
    template = _template_of(validated)
    _probe_images(validated, fetcher)
    canvas = template.canvas
    return [
        planned_image(
            validated.output_format,
            canvas.width,
            canvas.height,
            alpha=False,
            template_id=template.id,
        )
    ]


def plan_video(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    assert isinstance(validated, TemplateVideoInput)
    template = _template_of(validated)
    _probe_images(validated, fetcher)
    assert template.fps is not None
    canvas = template.canvas
    return [
        planned_video(
            canvas.width,
            canvas.height,
            template.frames,
            template.fps,
            has_audio=False,
            template_id=template.id,
        )
    ]


def render_data(ctx: RunContext, memory: JobMemory) -> RenderData:
    assert isinstance(ctx.input, TemplateInput)
    images = {}
    for slot, url in ctx.input.images.items():
        path = ctx.fetcher.fetch(url)
        ctx.check_cancelled()
        images[slot] = open_image(
            path, mode="RGBA", max_side=4096, budget=memory.budget(DECODE_BYTES_PER_PIXEL)
        )
    return RenderData(texts=ctx.input.texts, images=images, colors=ctx.input.colors)


def run_image(ctx: RunContext, template: Template, data: RenderData) -> None:
    assert isinstance(ctx.input, TemplateImageInput)
    image = render_image(template, data)
    ctx.progress(0.8)
    add_image_output(ctx, image, ctx.input.output_format, template_id=template.id)


def run_video(ctx: RunContext, template: Template, data: RenderData) -> None:
    assert template.fps is not None
    path: Path = ctx.output_path(".mp4")
    canvas = template.canvas
    total = template.frames
    with VideoWriter(path, canvas.width, canvas.height, fps=template.fps) as writer:
        for index, frame in enumerate(render_frames(template, data)):
            if index % CANCEL_CHECK_FRAMES == 0:
                ctx.check_cancelled()
                ctx.progress(0.1 + 0.85 * index / total)
            writer.write(frame)
    ctx.add_output(
        OutputFile(
            path,
            "video/mp4",
            width=canvas.width,
            height=canvas.height,
            duration_s=writer.duration_s,
            extra={"template_id": template.id},
        )
    )


def model_specs(library: TemplateLibrary) -> list[ModelSpec]:
    description = (
        "Fills a template (GET /api/v1/templates) with your texts, images and colours; "
        "rendered locally, no model weights."
    )
    return [
        ModelSpec(
            id=IMAGE_MODEL,
            name="Template render (image)",
            type=TEMPLATE_TYPE,
            input_model=bound_input(TemplateImageInput, library),
            credits=1,
            description=description + " PNG, JPEG or WebP.",
            category="templates",
            output_kind="image",
            timeout_s=120,
            plan=plan_image,
        ),
        ModelSpec(
            id=VIDEO_MODEL,
            name="Template render (video)",
            type=TEMPLATE_TYPE,
            input_model=bound_input(TemplateVideoInput, library),
            credits=2,
            description=description + " An animated MP4 (H.264), no sound.",
            category="templates",
            output_kind="video",
            timeout_s=600,
            plan=plan_video,
        ),
    ]


class TemplateEngine(Engine):
    name = "templates"

    def __init__(self, library: TemplateLibrary, memory: JobMemory | None = None) -> None:
        self.library = library
        self.memory = memory or JobMemory()
        self._models = model_specs(library)

    def models(self) -> Sequence[ModelSpec]:
        return self._models

    def run(self, ctx: RunContext) -> None:
        ctx.progress(0.05)
        template = _template_of(ctx.input)
        data = render_data(ctx, self.memory)
        ctx.check_cancelled()
        if template.type == "video":
            run_video(ctx, template, data)
        else:
            run_image(ctx, template, data)
        ctx.progress(1.0)


def engine(settings: Settings, registry: EngineRegistry) -> Engine:
    """Loads and validates every template now: a broken file stops the start, naming it."""
    return TemplateEngine(
        load_library(settings.templates_dir), JobMemory(settings.image_memory_bytes)
    )
