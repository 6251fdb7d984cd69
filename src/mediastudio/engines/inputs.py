"""The standard input of each generation type.

``POST /generate/{type}`` validates against these; an engine's model may subclass one to accept
more (its own schema is what ``GET /models/{id}`` shows and what the job is validated against).
Every field is described and bounded, because the schema is the API's documentation.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from mediastudio.engines.schema import JsonSchema, at_most_words, null, present, strip_aware

ImageAspect = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"]
VideoAspect = Literal["16:9", "9:16", "1:1", "4:3", "3:4"]

DEFAULT_IMAGE_SIDE = 1024


_ASPECT = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


def dimensions_from_aspect(aspect_ratio: str, long_side: int) -> tuple[int, int]:
    """``("16:9", 1280)`` → ``(1280, 720)``, ``("9:16", 1280)`` → ``(720, 1280)``.

    Any ``W:H`` of positive integers works. Both results are even (video needs that): the long
    side is ``long_side`` rounded down to even, the short one the nearest even number (at least 2).
    Raises ValueError for a malformed ratio or a long side under 2.
    """
    match = _ASPECT.fullmatch(aspect_ratio)
    if match is None or int(match[1]) == 0 or int(match[2]) == 0:
        raise ValueError(f"aspect ratio must look like '16:9', not {aspect_ratio!r}")
    if long_side < 2:
        raise ValueError(f"long side must be at least 2, not {long_side}")
    across, down = int(match[1]), int(match[2])
    long_even = long_side - long_side % 2
    short = max(2, 2 * round(long_even * min(across, down) / max(across, down) / 2))
    return (long_even, short) if across >= down else (short, long_even)


class StrictInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        """What this input's validators check across fields, in JSON Schema (engines/schema.py):
        a subclass with a ``model_validator`` adds its rule to its parent's."""
        return []

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        target = handler.resolve_ref_schema(json_schema)
        strip_aware(target)
        rules = cls.schema_rules()
        if rules:
            target["allOf"] = [*target.get("allOf", ()), *rules]
        return json_schema


class ImageInput(StrictInput):
    prompt: str = Field(min_length=1, max_length=2000, description="What to draw")
    negative_prompt: str | None = Field(None, max_length=2000, description="What to avoid")
    aspect_ratio: ImageAspect | None = Field(
        None, description="Shape of the image; default 1:1. Not together with width/height"
    )
    width: int | None = Field(None, ge=256, le=2048, description="Width in pixels")
    height: int | None = Field(None, ge=256, le=2048, description="Height in pixels")
    output_format: Literal["webp", "png", "jpg"] = Field("webp", description="File format")
    num_outputs: int = Field(1, ge=1, le=4, description="How many images to make")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Fixes the randomness")

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        one_way = [
            null("aspect_ratio"),
            {"properties": {**null("width")["properties"], **null("height")["properties"]}},
        ]
        rule = {"description": "aspect_ratio or width/height, not both", "anyOf": one_way}
        return [*super().schema_rules(), rule]

    @model_validator(mode="after")
    def _one_way_to_size(self) -> Self:
        if self.aspect_ratio is not None and (self.width is not None or self.height is not None):
            raise ValueError("give either aspect_ratio or width/height, not both")
        return self

    def dimensions(self) -> tuple[int, int]:
        if self.width is not None or self.height is not None:
            return self.width or DEFAULT_IMAGE_SIDE, self.height or DEFAULT_IMAGE_SIDE
        return dimensions_from_aspect(self.aspect_ratio or "1:1", DEFAULT_IMAGE_SIDE)


class VideoInput(StrictInput):
    prompt: str | None = Field(
        None, min_length=1, max_length=2000, description="The scene; optional with an image"
    )
    duration: int = Field(5, ge=1, le=10, description="Length in seconds")
    aspect_ratio: VideoAspect = Field("16:9", description="Shape of the frame")
    first_frame_image: str | None = Field(
        None, max_length=8_000_000, description="Image to start from (image-to-video): a URL"
    )
    fps: int = Field(24, ge=8, le=60, description="Frames per second")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        sources = [present("prompt", "string"), present("first_frame_image", "string")]
        rule = {"description": "a prompt, a first_frame_image, or both", "anyOf": sources}
        return [*super().schema_rules(), rule]

    @model_validator(mode="after")
    def _prompt_or_image(self) -> Self:
        if self.prompt is None and self.first_frame_image is None:
            raise ValueError("give a prompt, a first_frame_image, or both")
        return self


IMAGE_EDIT_TYPE = "image-edit"


class ImageEditInput(StrictInput):
    """Image editing: an image and an instruction in, the edited image out."""

    image_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description=(
            "The image to edit: an uploaded file's id (file_…), an https URL, one of this "
            "server's output URLs or a data: URI (PNG, JPEG, WebP or GIF)"
        ),
    )
    prompt: str = Field(
        min_length=1, max_length=2000, description="What to change, e.g. 'make it snow'"
    )
    aspect_ratio: ImageAspect | None = Field(
        None, description="Shape of the result; default: the input image's"
    )
    output_format: Literal["png", "jpg", "webp"] = Field("png", description="File format")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Fixes the randomness")


LIPSYNC_TYPE = "lipsync"


class LipsyncInput(StrictInput):
    """Lip-sync: a video of a face and a sound in, the video speaking that sound out."""

    video_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description=(
            "The video whose lips to move: an uploaded file's id (file_…), an https URL, one "
            "of this server's output URLs or a data: URI (MP4, QuickTime or WebM)"
        ),
    )
    audio_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description=(
            "The speech the video will say: an upload's id, a URL or a data: URI (WAV, MP3, "
            "Ogg, FLAC, AAC or M4A)"
        ),
    )


AVATAR_TYPE = "avatar"
AVATAR_MAX_TEXT = 1000  # about a minute of speech; the sound may be 30 s at most anyway


class AvatarInput(StrictInput):
    """A talking head: a face and what it says (a sound, or a text spoken first by a speech
    model of the catalog) in, a video of the face saying it out."""

    image_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description=(
            "The face: an uploaded file's id (file_…), an https URL, one of this server's output "
            "URLs or a data: URI (PNG, JPEG, WebP or GIF)"
        ),
    )
    audio_url: str | None = Field(
        None,
        min_length=1,
        max_length=8_000_000,
        description=(
            "The speech the face will say: an upload's id, a URL or a data: URI (WAV, MP3, Ogg, "
            "FLAC, AAC or M4A); or give text instead"
        ),
    )
    text: str | None = Field(
        None,
        min_length=1,
        max_length=AVATAR_MAX_TEXT,
        description="What the face will say, spoken first by speech_model; or give audio_url",
    )
    voice: str | None = Field(
        None,
        max_length=100,
        description="The speech model's voice for text (GET /api/v1/voices); its default",
    )
    speech_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The speech model that says text (GET /api/v1/models?type=speech); the "
        "catalog's default when left out",
    )

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        sound = {"allOf": [present("audio_url", "string"), null("text"), null("voice")]}
        words = {"allOf": [present("text", "string"), null("audio_url")]}
        rule = {"description": "audio_url, or text (with a voice)", "anyOf": [sound, words]}
        return [*super().schema_rules(), rule]

    @model_validator(mode="after")
    def _audio_or_text(self) -> Self:
        if (self.audio_url is None) == (self.text is None):
            raise ValueError("give audio_url or text, not both")
        if self.voice is not None and self.text is None:
            raise ValueError("voice is for text: the audio_url already has one")
        return self


class SpeechInput(StrictInput):
    text: str = Field(min_length=1, max_length=10_000, description="What to say")
    voice: str | None = Field(None, max_length=100, description="Voice id; default per language")
    speed: float = Field(1.0, ge=0.5, le=2.0, description="Speaking rate, 1.0 is normal")
    language: str = Field("en", min_length=2, max_length=16, description="BCP 47 language code")
    output_format: Literal["mp3", "wav", "ogg"] = Field(
        "mp3", description="File format (ogg is Ogg/Opus)"
    )


TranscriptFormat = Literal["json", "srt", "vtt"]
TimestampGranularity = Literal["segment", "word"]


def segment_times() -> list[TimestampGranularity]:
    return ["segment"]


def every_transcript_format() -> list[TranscriptFormat]:
    return ["json", "srt", "vtt"]


class TranscriptionInput(StrictInput):
    """Speech to text: audio (or a video's sound) in, timed segments and caption files out."""

    audio_url: str = Field(
        min_length=1,
        max_length=8_000_000,
        description=(
            "The audio or video: an uploaded file's id (file_…), an https URL, one of this "
            "server's output URLs or a data: URI"
        ),
    )
    language: str | None = Field(
        None,
        pattern=r"^[a-z]{2,3}$",
        description="The spoken language (ISO 639-1, e.g. en); detected when left out",
    )
    prompt: str | None = Field(
        None,
        max_length=2000,
        description="Text to guide the model: spellings, names, the previous part's words",
    )
    output_formats: list[TranscriptFormat] = Field(
        default_factory=every_transcript_format,
        min_length=1,
        max_length=3,
        description="The files wanted, in this order: json (the transcript), srt, vtt",
    )
    timestamp_granularities: list[TimestampGranularity] = Field(
        default_factory=segment_times,
        min_length=1,
        max_length=2,
        description="The times wanted, as OpenAI's API takes them: segment (always given: the "
        "captions need them) and word (the JSON transcript then has words: [{word, start, end}])",
        json_schema_extra={"uniqueItems": True},  # what _distinct_formats checks
    )
    # Whether the model can time each word; a model that cannot refuses ``word`` at create.
    GIVES_WORDS: ClassVar[bool] = True

    @property
    def wants_words(self) -> bool:
        return "word" in self.timestamp_granularities

    @model_validator(mode="after")
    def _distinct_formats(self) -> Self:
        if len(set(self.output_formats)) != len(self.output_formats):
            raise ValueError("output_formats must not repeat a format")
        if len(set(self.timestamp_granularities)) != len(self.timestamp_granularities):
            raise ValueError("timestamp_granularities must not repeat a value")
        return self


class MusicInput(StrictInput):
    prompt: str = Field(min_length=1, max_length=2000, description="What the music should be")
    duration: int = Field(30, ge=5, le=300, description="Length in seconds")
    genre: str | None = Field(None, max_length=50)
    mood: str | None = Field(None, max_length=50)
    tempo: Literal["slow", "medium", "fast"] | Annotated[int, Field(ge=40, le=240)] | None = Field(
        None, description="slow, medium, fast, or beats per minute (40-240)"
    )
    output_format: Literal["mp3", "wav"] = Field("mp3", description="File format")
    seed: int | None = Field(None, ge=0, le=2**32 - 1)


def prompt_of(validated: BaseModel) -> str | None:
    """The human text of a job, shown as ``prompt`` on the generation."""
    for name in ("prompt", "text", "script"):
        value = getattr(validated, name, None)
        if isinstance(value, str):
            return value
    return None


CommercialPlatform = Literal["tiktok", "youtube", "instagram", "tv"]
CommercialTone = Literal[
    "professional", "energetic", "casual", "luxury", "funny", "calm", "playful"
]
# Instagram's feed favours 4:5 portrait (the most screen a feed post may take); TV is 16:9.
COMMERCIAL_ASPECTS = {"tiktok": "9:16", "youtube": "16:9", "instagram": "4:5", "tv": "16:9"}
CommercialGenre = Literal["electronic", "ambient", "orchestral", "rock", "jazz", "lo-fi"]
# Spoken words per second of commercial a script may have: a little faster than the ~2.5 words/s
# of an unhurried voice-over, since the voice may be sped up to fit.
COMMERCIAL_MAX_WORDS_PER_S = 3.0
CommercialDuration = Literal[15, 30, 60]
_COMMERCIAL_DURATIONS: tuple[int, ...] = get_args(CommercialDuration)


class CommercialInput(StrictInput):
    product: str = Field(
        min_length=1, max_length=120, description="Product name or short description"
    )
    platform: CommercialPlatform = Field(
        description="Where it runs: tiktok 9:16, youtube 16:9, instagram 4:5, tv 16:9"
    )
    duration: CommercialDuration = Field(description="Length in seconds")
    tone: CommercialTone = Field(description="Voice, music and script style")
    product_images: list[Annotated[str, Field(min_length=1, max_length=8_000_000)]] | None = Field(
        None,
        min_length=1,
        max_length=10,
        description="1-10 product images: https URLs, data: URIs or uploaded file ids. "
        "When omitted, an image model (image_model) draws each scene's still",
    )
    image_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The image model that draws each scene's still when product_images is "
        "omitted (GET /api/v1/models?type=image); the catalog's default when left out. Not "
        "together with product_images",
    )
    script: str | None = Field(
        None,
        min_length=1,
        max_length=2000,
        description="The voice-over; written from the product and tone when omitted",
    )
    target_audience: str | None = Field(
        None, min_length=1, max_length=120, description="Who it is for; named in a written script"
    )
    voice: str | None = Field(None, max_length=100, description="Voice id of the speech model")
    music_genre: CommercialGenre | None = Field(
        None, description="Music genre; chosen from the tone when omitted"
    )
    resolution: Literal["480p", "720p", "1080p"] = Field(
        "720p", description="Frame size by its short side: 480, 720 or 1080 pixels"
    )
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Varies music and motion")

    @property
    def aspect_ratio(self) -> str:
        """The platform's frame shape (also what a sandbox placeholder video takes)."""
        return COMMERCIAL_ASPECTS[self.platform]

    @classmethod
    def schema_rules(cls) -> list[JsonSchema]:
        by_duration = [
            {
                "properties": {
                    "duration": {"const": seconds},
                    "script": {"pattern": at_most_words(int(seconds * COMMERCIAL_MAX_WORDS_PER_S))},
                }
            }
            for seconds in _COMMERCIAL_DURATIONS
        ]
        rule: dict[str, Any] = {
            "description": f"a script of at most {COMMERCIAL_MAX_WORDS_PER_S:g} words per second",
            "anyOf": [null("script"), *by_duration],
        }
        pictures = {
            "description": "image_model draws the stills only without product_images",
            "anyOf": [null("product_images"), null("image_model")],
        }
        return [*super().schema_rules(), rule, pictures]

    @model_validator(mode="after")
    def _script_fits(self) -> Self:
        if self.product_images is not None and self.image_model is not None:
            raise ValueError(
                "image_model draws the stills only when product_images is omitted; give one"
            )
        if self.script is not None:
            words = len(self.script.split())
            limit = int(self.duration * COMMERCIAL_MAX_WORDS_PER_S)
            if words > limit:
                raise ValueError(
                    f"the script has {words} words; a {self.duration} s commercial fits at most "
                    f"{limit}"
                )
        return self
