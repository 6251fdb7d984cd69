"""The auto-clip input: its own module so the HTTP layer can import it without OpenCV."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from mediastudio.engines.builtin.video_tools.autocaptions import CaptionSource
from mediastudio.engines.schema import JsonSchema, null

ClipAspect = Literal["9:16", "1:1", "16:9"]


class AutoClipInput(CaptionSource):
    video_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description="The source video: an https URL or a data: URI (MP4, MOV, WebM, MKV…)",
    )
    max_clips: int = Field(3, ge=1, le=20, description="At most this many clips, best first")
    min_duration: float = Field(5.0, ge=1.0, le=180.0, description="Shortest clip, in seconds")
    max_duration: float = Field(30.0, ge=1.0, le=180.0, description="Longest clip, in seconds")
    aspect_ratio: ClipAspect = Field(
        "9:16", description="Shape of the clips; the picture is cropped around a face or motion"
    )
    viral_score_threshold: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="Keep only clips scoring at least this (0-100, relative to this video)",
    )

    add_captions: bool = Field(
        False,
        description="Burn each clip's own captions in, generated from the video's speech by a "
        "transcription model (whose price is added)",
    )

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        only_captions = {
            "description": "language and transcription_model only with add_captions",
            "anyOf": [
                {"required": ["add_captions"], "properties": {"add_captions": {"const": True}}},
                {"allOf": [null("language"), null("transcription_model")]},
            ],
        }
        return [*super().schema_rules(), only_captions]

    @model_validator(mode="after")
    def _durations_in_order(self) -> Self:
        if self.min_duration > self.max_duration:
            raise ValueError("min_duration must not be greater than max_duration")
        if not self.add_captions and (
            self.language is not None or self.transcription_model is not None
        ):
            raise ValueError("language and transcription_model apply only with add_captions")
        return self
