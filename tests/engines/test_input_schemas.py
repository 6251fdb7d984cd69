"""Input models publish what their validators check: a body valid by the JSON Schema is one the
model accepts, and the cross-field rules refuse in the schema what the validators refuse."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError

from mediastudio.engines.builtin.compositions.commercial import CommercialJobInput
from mediastudio.engines.builtin.compositions.script_video import ScriptVideoInput
from mediastudio.engines.builtin.espeak.inputs import EspeakInput
from mediastudio.engines.builtin.video_tools.clip_input import AutoClipInput
from mediastudio.engines.builtin.video_tools.dubbing import DubbingInput
from mediastudio.engines.builtin.video_tools.social import SocialVariantsInput
from mediastudio.engines.builtin.video_tools.subtitles import SubtitlesInput
from mediastudio.engines.inputs import ImageInput, MusicInput, TranscriptionInput, VideoInput
from mediastudio.engines.providers.openai.transcription import (
    OpenAITranscriptionInput,
    TextOnlyTranscriptionInput,
)

COMMERCIAL = {
    "product": "Aurora shoes",
    "platform": "tiktok",
    "duration": 15,
    "tone": "calm",
    "product_images": ["https://example.com/a.png"],
}
SEGMENT = {"start": 0, "end": 1.5, "text": "Hello"}

# (model, body, whether the model accepts it); the schema must agree on each.
CASES: list[tuple[type[BaseModel], dict[str, Any], bool]] = [
    (ImageInput, {"prompt": "a kite"}, True),
    (ImageInput, {"prompt": "a kite", "aspect_ratio": "3:2"}, True),
    (ImageInput, {"prompt": "a kite", "width": 512}, True),
    (ImageInput, {"prompt": "a kite", "aspect_ratio": None, "height": 512}, True),
    (ImageInput, {"prompt": "a kite", "aspect_ratio": "3:2", "height": 512}, False),
    (ImageInput, {"prompt": " \u3000\t"}, False),  # blank once stripped
    (ImageInput, {"prompt": "\u200b"}, True),  # a zero-width space is not white space
    (VideoInput, {"prompt": "waves"}, True),
    (VideoInput, {"first_frame_image": "https://example.com/a.png"}, True),
    (VideoInput, {"duration": 5}, False),
    (VideoInput, {"prompt": None, "first_frame_image": None}, False),
    (MusicInput, {"prompt": "jazz", "tempo": 120}, True),
    (MusicInput, {"prompt": "jazz", "tempo": "fast"}, True),
    (MusicInput, {"prompt": "jazz", "tempo": 39}, False),
    (MusicInput, {"prompt": "jazz", "tempo": "presto"}, False),
    (CommercialJobInput, {**COMMERCIAL, "script": " ".join(["word"] * 45)}, True),
    (CommercialJobInput, {**COMMERCIAL, "script": " ".join(["word"] * 46)}, False),
    # str.split() also splits on the separators \x1c-\x1f; the schema counts as it does.
    (CommercialJobInput, {**COMMERCIAL, "script": "\x1c".join(["word"] * 46)}, False),
    (CommercialJobInput, {**COMMERCIAL, "duration": 30, "script": " ".join(["w"] * 90)}, True),
    (CommercialJobInput, {**COMMERCIAL, "voice": "en-us+f3"}, True),
    (CommercialJobInput, {**COMMERCIAL, "voice": "robot"}, False),
    (CommercialJobInput, {**COMMERCIAL, "product_images": None}, True),
    (CommercialJobInput, {**COMMERCIAL, "product_images": None, "image_model": "fake/x"}, True),
    (CommercialJobInput, {**COMMERCIAL, "image_model": "fake/x"}, False),
    (CommercialJobInput, {**COMMERCIAL, "product_images": []}, False),
    (SubtitlesInput, {"video_url": "https://e.com/v.mp4", "segments": [SEGMENT]}, True),
    # Neither text: the captions are generated (language and model only then).
    (SubtitlesInput, {"video_url": "https://e.com/v.mp4"}, True),
    (DubbingInput, {"video_url": "v", "target_language": "es"}, True),
    (ScriptVideoInput, {"script": "Hello there."}, True),
    (ScriptVideoInput, {"scenes": [{"text": "Hi.", "visual_prompt": "a beach"}]}, True),
    (ScriptVideoInput, {"script": "Hi.", "scenes": [{"text": "Hi."}]}, False),
    (ScriptVideoInput, {"script": None, "scenes": None}, False),
    (ScriptVideoInput, {"aspect_ratio": "1:1"}, False),
    (DubbingInput, {"video_url": "v", "target_language": "es", "output_formats": []}, True),
    (DubbingInput, {"video_url": "v", "target_language": "es", "output_formats": ["vtt"]}, True),
    (
        DubbingInput,
        {"video_url": "v", "target_language": "es", "output_formats": ["srt"] * 2},
        False,
    ),
    (DubbingInput, {"video_url": "v", "target_language": "Spanish"}, False),
    (SubtitlesInput, {"video_url": "v", "language": "de", "transcription_model": "m"}, True),
    (SubtitlesInput, {"video_url": "v", "segments": [SEGMENT], "language": "de"}, False),
    (SubtitlesInput, {"video_url": "v", "subtitles": "WEBVTT", "transcription_model": "m"}, False),
    (
        SubtitlesInput,
        {"video_url": "https://e.com/v.mp4", "segments": [SEGMENT], "subtitles": "WEBVTT"},
        False,
    ),
    (
        SubtitlesInput,
        {"video_url": "v", "segments": [SEGMENT], "style": {"color": "#ff000080"}},
        True,
    ),
    (SubtitlesInput, {"video_url": "v", "segments": [SEGMENT], "style": {"color": "navy"}}, True),
    (SubtitlesInput, {"video_url": "v", "segments": [SEGMENT], "style": {"color": "#ff00"}}, True),
    (SubtitlesInput, {"video_url": "v", "segments": [SEGMENT], "style": {"color": "#ff0"}}, True),
    (SubtitlesInput, {"video_url": "v", "segments": [SEGMENT], "style": {"color": "nay"}}, False),
    (SocialVariantsInput, {"source_url": "s", "platforms": ["tiktok", "linkedin"]}, True),
    (SocialVariantsInput, {"source_url": "s", "platforms": ["tiktok", "tiktok"]}, False),
    (EspeakInput, {"text": "Hi", "voice": "en-us"}, True),
    (EspeakInput, {"text": "Hi", "voice": "de+klatt"}, True),
    (EspeakInput, {"text": "Hi", "voice": "en-us+nonsense"}, False),
    (EspeakInput, {"text": "Hi", "language": "pt-br"}, True),
    (EspeakInput, {"text": "Hi", "language": "en-au"}, True),  # falls back to en
    (EspeakInput, {"text": "Hi", "language": "tlh"}, False),
    (AutoClipInput, {"video_url": "v", "min_duration": 5, "max_duration": 30}, True),
    (AutoClipInput, {"video_url": "v", "add_captions": True, "language": "en"}, True),
    (AutoClipInput, {"video_url": "v", "add_captions": False, "language": "en"}, False),
    (AutoClipInput, {"video_url": "v", "transcription_model": "m"}, False),
    (TranscriptionInput, {"audio_url": "a", "timestamp_granularities": ["word"]}, True),
    (TranscriptionInput, {"audio_url": "a", "timestamp_granularities": ["word"] * 2}, False),
    (TranscriptionInput, {"audio_url": "a", "timestamp_granularities": []}, False),
    (OpenAITranscriptionInput, {"audio_url": "a", "timestamp_granularities": ["word"]}, True),
    (TextOnlyTranscriptionInput, {"audio_url": "a", "timestamp_granularities": ["word"]}, False),
    (TextOnlyTranscriptionInput, {"audio_url": "a", "timestamp_granularities": ["segment"]}, True),
    (TextOnlyTranscriptionInput, {"audio_url": "a"}, True),
]


def accepts(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("model", "body", "accepted"), CASES)
def test_the_schema_says_what_the_validators_check(
    model: type[BaseModel], body: dict[str, Any], accepted: bool
) -> None:
    assert accepts(model, body) is accepted
    assert jsonschema_rs.validator_for(model.model_json_schema()).is_valid(body) is accepted


def test_where_the_schema_cannot_say_a_rule_it_is_stricter_never_looser() -> None:
    # A voice and a language must speak the same language: the schema asks for one of them.
    both = {"text": "Hi", "voice": "fr", "language": "fr-be"}
    schema = jsonschema_rs.validator_for(EspeakInput.model_json_schema())
    assert accepts(EspeakInput, both) and not schema.is_valid(both)
    clash = {"text": "Hi", "voice": "fr", "language": "de"}
    assert not accepts(EspeakInput, clash) and not schema.is_valid(clash)


# What JSON Schema cannot say (it does not compare two values, nor parse SRT): these bodies are
# valid by the schema and refused with a 400. docs/api.md lists the same.
GAPS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (AutoClipInput, {"video_url": "v", "min_duration": 40, "max_duration": 30}),
    (SubtitlesInput, {"video_url": "v", "segments": [{**SEGMENT, "start": 2, "end": 1}]}),
    (SubtitlesInput, {"video_url": "v", "subtitles": "not subtitles"}),
    (ScriptVideoInput, {"scenes": [{"text": "w" * 400}] * 4}),
]


@pytest.mark.parametrize(("model", "body"), GAPS)
def test_the_rules_the_schema_cannot_say_are_the_listed_ones(
    model: type[BaseModel], body: dict[str, Any]
) -> None:
    assert jsonschema_rs.validator_for(model.model_json_schema()).is_valid(body)
    assert not accepts(model, body)
