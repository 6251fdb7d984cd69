"""OpenAI's request and response shapes, as the official clients send and read them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="Catalog models have no release date here: always 0")
    owned_by: str = Field(description="The engine that serves it (builtin, providers, …)")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class _Request(BaseModel):
    # OpenAI refuses parameters it does not know; so do we (a typo must not pass silently).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


ImageResponseFormat = Literal["url", "b64_json"]
ImageOutputFormat = Literal["png", "jpeg", "webp"]


class ImageGenerationRequest(_Request):
    prompt: str = Field(min_length=1, max_length=2000, description="What to draw")
    model: str | None = Field(
        None,
        max_length=200,
        description="Any image model of GET /v1/models (gpt-image-2 means openai/gpt-image-2); "
        "default: the catalog's default image model",
    )
    n: int = Field(1, ge=1, le=4, description="How many images")
    size: str | None = Field(
        None,
        max_length=16,
        pattern=r"^(auto|\d{2,5}x\d{2,5})$",
        description="WIDTHxHEIGHT (the model renders its nearest size) or auto",
    )
    response_format: ImageResponseFormat = Field(
        "url", description="url: a signed URL of the stored image (24 h); b64_json: the bytes"
    )
    output_format: ImageOutputFormat = Field("png", description="File format")
    quality: str | None = Field(None, max_length=20, description="Sent to models that take it")
    style: str | None = Field(None, max_length=20, description="Sent to models that take it")
    background: str | None = Field(None, max_length=20, description="Sent to models that take it")
    user: str | None = Field(None, max_length=200, description="Accepted and ignored")

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"prompt": "a red bicycle on a beach", "size": "1024x1024", "n": 1}]
        },
    )


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]


SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]


class SpeechRequest(_Request):
    model: str = Field(
        min_length=1,
        max_length=200,
        description="Any speech model of GET /v1/models: builtin/espeak, openai/tts-1 (or tts-1)…",
    )
    input: str = Field(min_length=1, max_length=10_000, description="The text to say")
    voice: str | None = Field(
        None,
        max_length=100,
        description="A voice of the model (GET /api/v1/voices). OpenAI's stock names (alloy…) "
        "on a model that lacks them mean its default voice",
    )
    response_format: SpeechFormat = Field(
        "mp3", description="mp3, opus (in Ogg), wav, aac, flac: those the model writes; not pcm"
    )
    speed: float | None = Field(None, ge=0.25, le=4.0, description="The model's own bounds apply")
    instructions: str | None = Field(
        None, max_length=4000, description="Tone and manner, for models that take them"
    )

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"model": "builtin/espeak", "input": "Hello there.", "voice": "alloy"}]
        },
    )


TranscriptionFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]


class TranscriptionJson(BaseModel):
    """``response_format`` json; verbose_json adds the rest."""

    text: str
    task: str | None = None
    language: str | None = None
    duration: float | None = None
    segments: list[dict[str, Any]] | None = None
    words: list[dict[str, Any]] | None = None


class ChatContentPart(BaseModel):
    """A part of a message's ``content`` list; only ``{"type": "text", "text"}`` is run."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(max_length=40)
    text: str | None = None


class ChatCompletionMessage(BaseModel):
    # OpenAI's messages carry more (name, tool_calls…): read by openai_compat.chat, which
    # refuses what it cannot honour and ignores ``name``.
    model_config = ConfigDict(extra="allow")

    role: str = Field(max_length=20)
    content: str | list[ChatContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")  # include_obfuscation…: nothing to obfuscate here

    include_usage: bool = False


class ChatCompletionRequest(_Request):
    """OpenAI's ``chat.completions.create``. Parameters OpenAI has and this server does not
    run are named below (typed loosely) so that setting one is refused with a clear message
    rather than as an unknown field; unknown fields are refused as OpenAI refuses them."""

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatCompletionMessage] = Field(min_length=1, max_length=101)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0, le=2)
    n: int | None = Field(None, ge=1, le=128)
    # Accepted and ignored: they change nothing of the answer.
    user: str | None = Field(None, max_length=200)
    safety_identifier: str | None = Field(None, max_length=200)
    metadata: dict[str, str] | None = None
    store: bool | None = None
    parallel_tool_calls: bool | None = None
    # Accepted when they ask for what is done anyway (text, no logprobs); else refused.
    response_format: dict[str, Any] | None = None
    modalities: list[str] | None = None
    logprobs: bool | None = None
    # Refused when set.
    tools: Any = None
    tool_choice: Any = None
    functions: Any = None
    function_call: Any = None
    top_logprobs: Any = None
    top_p: Any = None
    stop: Any = None
    seed: Any = None
    presence_penalty: Any = None
    frequency_penalty: Any = None
    logit_bias: Any = None
    audio: Any = None
    prediction: Any = None
    reasoning_effort: Any = None
    service_tier: Any = None
    web_search_options: Any = None
    verbosity: Any = None
    prompt_cache_key: Any = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "openai/gpt-5.4-mini",
                    "messages": [{"role": "user", "content": "What can you help me with?"}],
                }
            ]
        },
    )
