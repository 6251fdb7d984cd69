from __future__ import annotations

import pytest
from pydantic import ValidationError

from mediastudio.engines.contract import InvalidInput, JobTimeout, ModelSpec, ProviderError
from mediastudio.engines.inputs import ImageInput, MusicInput, VideoInput, dimensions_from_aspect
from mediastudio.engines.sandbox import magic


def test_magic_prompts() -> None:
    assert magic.parse("a cat") == magic.Magic()
    assert isinstance(magic.parse("x [fail:provider_error]").failure(), ProviderError)
    assert isinstance(magic.parse("[fail:invalid_input]").failure(), InvalidInput)
    assert isinstance(magic.parse("[fail:job_timeout]").failure(), JobTimeout)
    assert magic.parse("[fail:nonsense]").failure() is None
    assert magic.parse("[slow:2.5] [partial] [crash]") == magic.Magic(
        slow_s=2.5, partial=True, crash=True
    )
    assert magic.parse("[slow:99999]").slow_s == magic.MAX_SLOW_S


def test_image_input_sizes() -> None:
    assert ImageInput(prompt="x").dimensions() == (1024, 1024)
    assert ImageInput(prompt="x", aspect_ratio="9:16").dimensions() == (576, 1024)
    assert ImageInput(prompt="x", width=512, height=300).dimensions() == (512, 300)
    with pytest.raises(ValidationError):
        ImageInput(prompt="x", aspect_ratio="1:1", width=512)
    with pytest.raises(ValidationError):
        ImageInput(prompt="x", width=100)
    with pytest.raises(ValidationError):
        ImageInput(prompt="x", unknown_field=1)  # type: ignore[call-arg]


def test_video_and_music_rules() -> None:
    with pytest.raises(ValidationError):
        VideoInput()
    assert VideoInput(first_frame_image="data:image/png;base64,AA==").prompt is None
    with pytest.raises(ValidationError):
        MusicInput(prompt="x", tempo=300)
    assert MusicInput(prompt="x", tempo="fast").tempo == "fast"


@pytest.mark.parametrize(
    ("aspect", "expected"),
    [("16:9", (1280, 720)), ("9:16", (720, 1280)), ("1:1", (1280, 1280)), ("4:3", (1280, 960))],
)
def test_dimensions_from_aspect(aspect: str, expected: tuple[int, int]) -> None:
    assert dimensions_from_aspect(aspect, 1280) == expected


def test_price_units() -> None:
    per_output = ModelSpec("m", "m", "image", ImageInput, 5, price_unit="output")
    per_second = ModelSpec("v", "v", "video", VideoInput, 2, price_unit="second")
    assert per_output.units(ImageInput(prompt="x", num_outputs=3)) == 3
    assert per_second.units(VideoInput(prompt="x", duration=7)) == 7
