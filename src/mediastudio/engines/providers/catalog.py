"""The models hosted providers serve here: seed 000's ids as they are, and any Replicate model
as ``replicate/<owner>/<name>``. Prices are credits per generation (per output for generic
image models); ``MEDIASTUDIO_MODEL_PRICES`` overrides any of them by id."""

from __future__ import annotations

import re

from mediastudio.engines.contract import ModelSpec
from mediastudio.engines.providers.inputs import GENERIC_INPUTS, HailuoInput, ZImageTurboInput
from mediastudio.engines.providers.replicate import mapping, plans
from mediastudio.engines.providers.routes import ProviderModel, Route, provider_model

REPLICATE = "replicate"
GENERIC_PREFIX = "replicate/"
GENERIC_DEFAULT_TYPE = "image"
GENERIC_CREDITS = {"image": 10, "video": 500, "speech": 20, "music": 50}
GENERIC_TIMEOUT_S = 1800.0
# Replicate's owner and model names: letters, digits, '.', '_' and '-'.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

Z_IMAGE_TURBO = provider_model(
    ModelSpec(
        id="prunaai/z-image-turbo",
        name="Z-Image Turbo",
        type="image",
        input_model=ZImageTurboInput,
        credits=5,
        description="Fast text-to-image (Tongyi-MAI's Z-Image Turbo) on Replicate.",
        category="image-generation",
        pool="io",
        timeout_s=300,
    ),
    Route(REPLICATE, "prunaai/z-image-turbo", mapping.z_image_turbo, plan=plans.z_image_turbo),
)

HAILUO_FAST = provider_model(
    ModelSpec(
        id="minimax/hailuo-2.3-fast",
        name="Hailuo 2.3 Fast",
        type="video",
        input_model=HailuoInput,
        credits=450,
        description=(
            "MiniMax Hailuo on Replicate: 6 or 10 s clips from a first frame (Hailuo 2.3 Fast) "
            "or from text alone (Hailuo 2.3)."
        ),
        category="video-generation",
        pool="io",
        timeout_s=1200,
    ),
    Route(
        REPLICATE,
        "minimax/hailuo-2.3-fast",
        mapping.hailuo,
        when=mapping.has_first_frame,
        media=("first_frame_image",),
        plan=plans.hailuo,
    ),
    # Hailuo 2.3 Fast only animates an image: text alone goes to its sibling.
    Route(
        REPLICATE,
        "minimax/hailuo-2.3",
        mapping.hailuo,
        when=mapping.has_no_first_frame,
        plan=plans.hailuo,
    ),
)

CURATED: tuple[ProviderModel, ...] = (Z_IMAGE_TURBO, HAILUO_FAST)


def generic(model_id: str, type_: str | None) -> ProviderModel | None:
    """``replicate/<owner>/<name>`` as a model of ``type_`` (image when the request names no
    type): the common fields under their usual names, everything else in ``options``."""
    if not model_id.startswith(GENERIC_PREFIX):
        return None
    parts = model_id.removeprefix(GENERIC_PREFIX).split("/")
    if len(parts) != 2 or not all(_NAME.fullmatch(part) for part in parts):
        return None
    type_ = type_ or GENERIC_DEFAULT_TYPE
    input_model = GENERIC_INPUTS.get(type_)
    if input_model is None:
        return None
    target = "/".join(parts)
    spec = ModelSpec(
        id=model_id,
        name=f"{target} on Replicate",
        type=type_,
        input_model=input_model,
        credits=GENERIC_CREDITS[type_],
        price_unit="output" if type_ == "image" else "generation",
        description=f"Replicate's {target}; its own inputs go in options.",
        category="replicate",
        pool="io",
        timeout_s=GENERIC_TIMEOUT_S,
    )
    media = ("first_frame_image",) if type_ == "video" else ()
    return ProviderModel(spec, (Route(REPLICATE, target, mapping.generic, media=media),))
