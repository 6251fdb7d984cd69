"""Talking avatars on hosted providers (the ``avatar`` type): VEED's Fabric 1.0, on fal
(``veed/fabric-1.0``) and on Replicate (``veed/fabric-1.0``).

Fabric animates one image to a sound: the video lasts as long as the sound and keeps the
image's shape, about 0.4 megapixel at 480p (864x480 for 16:9) and 0.9 at 720p (1312x736),
sides in 16-pixel steps. Those figures are VEED's examples, not a published rule, and the
frame rate is not published at all (25 fps assumed): the plan flags its frame as estimated.

When the request gives ``text`` instead of a sound, the job first speaks it with a speech model
of the catalog (``speech_model``, the catalog's default when left out), as a step priced with
the job (:func:`uses`); the spoken file is then sent as the sound (see the providers engine).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from mediastudio.engines.contract import InputFetcher, PlannedOutput, StepUse
from mediastudio.engines.inputs import AvatarInput
from mediastudio.engines.media.video import AUDIO_RATE
from mediastudio.engines.providers.inputs import Options, RoutingFields, options_field
from mediastudio.engines.providers.media import input_audio, input_image_size
from mediastudio.engines.providers.openai.mapping import speech_seconds

Resolution = Literal["480p", "720p"]
SPEECH = "speech"
SPEECH_FIELD = "speech_model"
STEP = "speech"
# VEED's example frames (16:9): their areas are what each resolution renders.
AREAS = {"480p": 864 * 480, "720p": 1312 * 736}
SIDE_STEP = 16
FPS = 25
# A text's spoken length is an estimate until it is spoken (the speech model decides it).
TEXT_TOLERANCE = 0.5
TEXT_MIN_TOLERANCE_S = 1.0


class FabricInput(AvatarInput, RoutingFields):
    resolution: Resolution = Field(
        "480p", description="Frame size class: 480p (about 0.4 MP) or 720p (about 0.9 MP)"
    )
    options: Options = options_field()


def uses(validated: BaseModel) -> list[StepUse]:
    """The speech step of a job given text: priced and checked when the job is created."""
    assert isinstance(validated, AvatarInput)
    if validated.text is None:
        return []
    return [StepUse(type=SPEECH, field=SPEECH_FIELD, input=speech_input(validated))]


def speech_input(validated: AvatarInput) -> dict[str, object]:
    """What the speech step is given: the text, the voice when one is named."""
    assert validated.text is not None
    payload: dict[str, object] = {"text": validated.text}
    if validated.voice is not None:
        payload["voice"] = validated.voice
    return payload


def frame(width: int, height: int, resolution: str) -> tuple[int, int]:
    """Fabric's frame for an image of ``width`` x ``height``: its shape, the resolution's area,
    sides in 16-pixel steps."""
    area = AREAS[resolution]
    across = math.sqrt(area * width / height)
    down = area / across
    return _step(across), _step(down)


def _step(side: float) -> int:
    return max(SIDE_STEP, SIDE_STEP * round(side / SIDE_STEP))


def _with_options(validated: FabricInput, mapped: dict[str, Any]) -> dict[str, Any]:
    sent = {key: value for key, value in mapped.items() if value is not None}
    return {**(validated.options or {}), **sent}


def fal_build(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """fal's veed/fabric-1.0: image_url, audio_url, resolution (required there)."""
    assert isinstance(validated, FabricInput)
    mapped = {
        "image_url": media.get("image_url"),
        "audio_url": media.get("audio_url"),
        "resolution": validated.resolution,
    }
    return _with_options(validated, mapped)


def replicate_build(validated: BaseModel, media: Mapping[str, str]) -> dict[str, Any]:
    """Replicate's veed/fabric-1.0: image, audio, resolution."""
    assert isinstance(validated, FabricInput)
    mapped = {
        "image": media.get("image_url"),
        "audio": media.get("audio_url"),
        "resolution": validated.resolution,
    }
    return _with_options(validated, mapped)


def plan(validated: BaseModel, fetcher: InputFetcher) -> list[PlannedOutput]:
    """One MP4 at Fabric's frame for the image, as long as the sound (a text's estimated
    length until it is spoken), with the sound as its track; the inputs refused as the engine
    refuses them."""
    assert isinstance(validated, FabricInput)
    width, height = input_image_size(validated.image_url, fetcher, "image_url")
    tolerance = 0.0
    if validated.audio_url is not None:
        seconds = input_audio(fetcher.fetch(validated.audio_url), "audio_url").duration_s
    else:
        assert validated.text is not None
        seconds = speech_seconds(validated.text, 1.0)
        tolerance = TEXT_MIN_TOLERANCE_S + TEXT_TOLERANCE * seconds
    across, down = frame(width, height, validated.resolution)
    return [
        PlannedOutput(
            "video/mp4",
            width=across,
            height=down,
            duration_s=round(seconds, 3),
            fps=FPS,
            has_audio=True,
            sample_rate=AUDIO_RATE,
            channels=1,
            duration_tolerance_s=tolerance,
            size_estimated=True,
        )
    ]
