"""The curated Replicate models' output plans (their sandbox twins) state what the models'
pages document, from the same helpers as the inputs sent; tests/engines/test_sandbox_parity.py
renders both sides and compares them."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import ValidationError

from mediastudio.engines.contract import InvalidInput, PlannedOutput
from mediastudio.engines.providers.catalog import HAILUO_FAST, Z_IMAGE_TURBO
from mediastudio.engines.providers.replicate import mapping
from mediastudio.engines.providers.routes import ProviderModel
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.inputs import SafeFetcher


def frame(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 60)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def planned(model: ProviderModel, tmp_path: Path, **body: Any) -> PlannedOutput:
    assert model.spec.plan is not None
    validated = model.spec.input_model.model_validate(body)
    [output] = model.spec.plan(validated, SafeFetcher(tmp_path, NetPolicy()))
    assert isinstance(output, PlannedOutput)
    return output


def test_z_image_plans_the_size_it_is_sent_in_the_format_asked(tmp_path: Path) -> None:
    body = {"prompt": "a lighthouse", "aspect_ratio": "3:2", "output_format": "jpg"}
    output = planned(Z_IMAGE_TURBO, tmp_path, **body)
    sent = mapping.z_image_turbo(Z_IMAGE_TURBO.spec.input_model.model_validate(body), {})
    assert (output.width, output.height) == (sent["width"], sent["height"]) == (1024, 688)
    assert output.content_type == "image/jpeg" and not output.has_alpha
    assert not output.size_estimated


def test_hailuo_from_text_is_its_16_9_frame_at_25_fps_without_sound(tmp_path: Path) -> None:
    output = planned(HAILUO_FAST, tmp_path, prompt="waves", aspect_ratio="9:16")
    assert (output.width, output.height, output.duration_s) == (1366, 768, 6.0)
    assert (output.fps, output.has_audio, output.size_estimated) == (25, False, False)
    sharp = planned(HAILUO_FAST, tmp_path, prompt="waves", resolution="1080p")
    assert (sharp.width, sharp.height) == (1920, 1080)
    long = planned(HAILUO_FAST, tmp_path, prompt="waves", duration=7)
    assert long.duration_s == 10.0 and long.duration_tolerance_s == pytest.approx(1.0)


def test_hailuo_from_a_first_frame_keeps_its_aspect_at_an_estimated_size(
    tmp_path: Path,
) -> None:
    wide = planned(HAILUO_FAST, tmp_path, prompt="x", first_frame_image=frame(1000, 400))
    assert (wide.width, wide.height, wide.size_estimated) == (1920, 768, True)
    body = {"first_frame_image": frame(320, 480), "options": {"resolution": "1080p"}}
    tall = planned(HAILUO_FAST, tmp_path, **body)
    assert (tall.width, tall.height) == (1080, 1620)


def test_what_hailuo_refuses_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="1080p in 6 s clips only"):
        HAILUO_FAST.spec.input_model.model_validate(
            {"prompt": "x", "resolution": "1080p", "duration": 8}
        )
    for options, duration in (({"resolution": "1080p"}, 8), ({"resolution": "720p"}, 6)):
        body = {"prompt": "x", "duration": duration, "options": options}
        with pytest.raises(InvalidInput):  # the sandbox twin refuses it…
            planned(HAILUO_FAST, tmp_path, **body)
        validated = HAILUO_FAST.spec.input_model.model_validate(body)
        with pytest.raises(InvalidInput):  # …as the live engine does, before submitting
            mapping.hailuo(validated, {})
    not_an_image = "data:image/png;base64," + base64.b64encode(b"hello").decode()
    with pytest.raises(InvalidInput, match="not an image"):
        planned(HAILUO_FAST, tmp_path, prompt="x", first_frame_image=not_an_image)


def test_the_resolution_asked_for_is_sent(tmp_path: Path) -> None:
    body = {"prompt": "x", "resolution": "1080p"}
    sent = mapping.hailuo(HAILUO_FAST.spec.input_model.model_validate(body), {})
    assert sent == {"prompt": "x", "duration": 6, "resolution": "1080p"}
