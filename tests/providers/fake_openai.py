"""A fake OpenAI on 127.0.0.1 that speaks the real HTTP protocol of the endpoints this
server uses (a Starlette app under uvicorn, in a thread), faithful enough that the official
``openai`` client works against it (``test_fake_openai.py`` proves it):

- ``POST /v1/images/generations``: the GPT image models answer ``b64_json`` images of the
  ``size`` sent in their ``output_format`` (png by default), 1 to 10 of them, with usage:
  ``gpt-image-1.5`` (and ``gpt-image-1-mini``) at 1024x1024, 1536x1024, 1024x1536 or auto,
  ``gpt-image-2`` at any ``WIDTHxHEIGHT`` with both sides divisible by 16, a ratio within 1:3
  to 3:1 and at most 3840x2160 pixels. Sizes, ``n`` and formats outside those, and
  ``response_format`` (a retired models' parameter), are 400s as OpenAI words them; the shut
  down ``gpt-image-1``, ``dall-e-2`` and ``dall-e-3`` are 404 ``model_not_found``.
- ``POST /v1/images/edits`` (multipart: ``image`` or ``image[]`` files, ``mask``, ``model``,
  ``prompt``, ``n``, ``size``, ``output_format``, ``quality``, ``input_fidelity``): the images
  are decoded (PNG, JPEG or WebP, else 400 ``invalid_image_format``; a mask must be a PNG of
  the first image's size), and ``n`` ``b64_json`` images of the ``size`` sent (``auto``: the
  standard size nearest the first image's shape) answered with usage; a GPT image model that
  edits, sizes, ``n``, formats, quality and fidelity are checked as OpenAI words it.
- ``POST /v1/audio/speech``: the audio file itself in ``response_format`` (mp3 by default; opus
  in Ogg, aac in ADTS, flac, wav, or pcm: raw 24 kHz 16-bit mono), about as long as a voice
  takes to say the ``input`` at ``speed`` (15 characters a second); unknown voices (ballad and
  verse on tts-1), an ``input`` over 4096 characters and speeds outside 0.25 to 4 are 400s.
- ``POST /v1/audio/transcriptions`` (multipart: ``file``, ``model``, ``language``, ``prompt``,
  ``response_format``, ``timestamp_granularities[]``): the file is decoded (an unreadable one is
  400 ``Invalid file format``, one over 25 MB a 413) and transcribed deterministically, one
  segment per two seconds of its sound (:func:`fake_transcript`), answered as ``json``,
  ``verbose_json`` (whisper-1 only, with segments), ``text``, ``srt`` or ``vtt`` (whisper-1
  only), as OpenAI does; timestamps without ``verbose_json`` are a 400; ``word`` granularity
  adds ``words`` (:func:`fake_words`), and ``segments`` come only when ``segment`` is asked
  for or no granularity is. ``gpt-transcribe``'s
  ``json`` adds the detected ``languages`` (``[{"code"}]``), as the official client types it.
- ``POST /v1/chat/completions``: a deterministic ``chat.completion`` (:func:`chat_completion`)
  with usage, ``finish_reason: length`` under a token bound, a ``refusal`` for a message
  containing :data:`REFUSED_WORD`, 404 ``model_not_found`` and 400s for bad messages. With
  ``"stream": true`` the same reply as OpenAI streams it (:func:`chat_chunks`): Server-Sent
  Events ``data: {chat.completion.chunk}``, one word a chunk, the role in the first, the
  ``finish_reason`` in the last, a usage chunk with empty ``choices`` when
  ``stream_options.include_usage``, then ``data: [DONE]``. :attr:`FakeOpenAI.chunk_delay_s`
  spaces the chunks; :attr:`FakeOpenAI.stream_break_after` fails a stream after that many
  chunks, with OpenAI's error event (``"error"``) or by cutting the connection (``"cut"``);
  streams whose client hung up are counted in :attr:`FakeOpenAI.streams_abandoned`.
  With ``response_format: {"type": "json_object"}`` (which OpenAI refuses, 400, unless a
  message says "json") the reply is JSON: a user message ``{"lines": [...]}`` (a translation
  request) is answered ``{"translations": [...]}``, each line looked up in
  :attr:`FakeOpenAI.glossary` (else marked ``<line> [translated]``), deterministically.
- ``Authorization: Bearer <key>`` or 401 ``invalid_api_key``; errors are ``{"error": {"message",
  "type", "param", "code"}}``. A prompt containing :data:`REFUSED_WORD` is refused as OpenAI
  refuses content: 400 ``moderation_blocked``. The GPT-5 chat models (reasoning models) refuse a
  ``temperature`` other than 1 and ``max_tokens`` (400 ``unsupported_value`` /
  ``unsupported_parameter``), as OpenAI's do.
- :attr:`FakeOpenAI.answers` scripts the next answers of a path (a 429 with ``retry-after`` and
  ``x-ratelimit-*`` headers, a 500, ``insufficient_quota``…) before it behaves normally;
  everything received is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import re
import secrets
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from mediastudio.engines.media.audio import write_audio
from tests.providers.loopback import Loopback

KEY = "sk-fake-0000000000000000000000000000000000000000"
REFUSED_WORD = "forbidden"
GPT_IMAGE_SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}
# Text-to-image models OpenAI serves: the fixed-size ones, and those taking any WIDTHxHEIGHT.
IMAGE_MODELS = {"gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2"}
FREE_SIZE_MODELS = {"gpt-image-2"}
SHUT_DOWN_IMAGE_MODELS = {"gpt-image-1", "dall-e-2", "dall-e-3"}
# GPT image models that edit (gpt-image-1 was shut down on October 23, 2026).
EDIT_MODELS = {"gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2"}
IMAGE_FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}
VOICES = {
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
}
TTS_1_VOICES = VOICES - {"ballad", "verse"}
SPEECH_MODELS = {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"}
# response_format → (our writer's format, Content-Type OpenAI answers with)
SPEECH_FORMATS = {
    "mp3": ("mp3", "audio/mpeg"),
    "opus": ("ogg", "audio/opus"),
    "aac": ("aac", "audio/aac"),
    "flac": ("flac", "audio/flac"),
    "wav": ("wav", "audio/wav"),
    "pcm": ("pcm", "audio/pcm"),
}
SPEECH_RATE = 24_000
TRANSCRIBE_MODELS = {"whisper-1", "gpt-transcribe", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}
# What each model answers in: the gpt-4o models and gpt-transcribe give text only (json or text).
TRANSCRIPT_FORMATS = {
    "whisper-1": {"json", "verbose_json", "text", "srt", "vtt"},
    "gpt-transcribe": {"json", "text"},
    "gpt-4o-transcribe": {"json", "text"},
    "gpt-4o-mini-transcribe": {"json", "text"},
}
MAX_UPLOAD_BYTES = 26_214_400
SEGMENT_S = 2.0
LANGUAGE_NAMES = {"en": "english", "de": "german", "fr": "french", "es": "spanish"}
CHARACTERS_PER_SECOND = 15.0
# Chat models this fake serves (llama3.2 stands in for a model of an OpenAI-compatible server).
CHAT_MODELS = {"gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-4o-mini", "gpt-4o", "llama3.2"}
# Reasoning models: only the default temperature, and max_completion_tokens, not max_tokens.
REASONING_CHAT_MODELS = {"gpt-5.5", "gpt-5.4", "gpt-5.4-mini"}
CHAT_ROLES = {"system", "developer", "user", "assistant"}


@dataclass
class Answer:
    """A scripted answer: status, JSON body, headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error(
    status: int, message: str, type_: str, code: str | None = None, param: str | None = None
) -> Answer:
    return Answer(
        status, {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def rate_limited(retry_after_s: float = 0.05) -> Answer:
    """OpenAI's 429 with its rate-limit headers (``retry-after`` in seconds)."""
    return Answer(
        429,
        error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded").body,
        {
            "retry-after": f"{retry_after_s:g}",
            "x-ratelimit-limit-requests": "5",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{retry_after_s:g}s",
        },
    )


def out_of_quota() -> Answer:
    return error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    key: str = KEY
    base_url: str = ""
    answers: dict[str, deque[Answer]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    slow_s: float = 0.0  # hold each generation this long (a cancel must not wait for it)
    chunk_delay_s: float = 0.0  # between streamed chat chunks
    stream_break_after: int | None = None  # chunks sent before a stream fails
    stream_break: Literal["error", "cut"] = "error"
    streams_abandoned: int = 0  # streams whose client closed the connection before the end
    glossary: dict[str, str] = field(default_factory=dict)  # line -> its translation (JSON mode)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    def script(self, path: str, *answers: Answer) -> None:
        """The next answers of ``path`` (``/v1/images/generations``), in order."""
        self.answers.setdefault(path, deque()).extend(answers)

    def calls(self, path: str) -> list[Received]:
        return [item for item in self.received if item.path == path]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/images/generations", self._images, methods=["POST"]),
                Route("/v1/images/edits", self._edits, methods=["POST"]),
                Route("/v1/audio/speech", self._speech, methods=["POST"]),
                Route("/v1/audio/transcriptions", self._transcription, methods=["POST"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/files/{name}", self._file, methods=["GET"]),
            ]
        )

    async def _received(
        self, request: Request, form: bool = False
    ) -> tuple[dict[str, Any], Response | None]:
        if form:
            body = await _form(request)
        else:
            try:
                body = await request.json()
            except ValueError:
                body = {}
        self.received.append(Received(request.url.path, dict(request.headers), body))
        if request.headers.get("authorization") != f"Bearer {self.key}":
            found = error(
                401,
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
            return body, _json(found)
        queued = self.answers.get(request.url.path)
        if queued:
            return body, _json(queued.popleft())
        if not isinstance(body, dict):
            return {}, _json(
                error(400, "We could not parse the JSON body.", "invalid_request_error")
            )
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        return body, None

    async def _images(self, request: Request) -> Response:
        body, answered = await self._received(request)
        if answered is not None:
            return answered
        problem = _image_problem(body)
        if problem is not None:
            return _json(problem)
        n = int(body.get("n") or 1)
        size = body.get("size") or "1024x1024"
        if size == "auto":
            size = "1024x1024"
        width, height = (int(part) for part in size.split("x"))
        fmt = body.get("output_format") or "png"
        data = [
            {"b64_json": base64.b64encode(_image(width, height, fmt, index)).decode("ascii")}
            for index in range(n)
        ]
        answer: dict[str, Any] = {
            "created": int(time.time()),
            "data": data,
            "usage": {
                "input_tokens": 10,
                "output_tokens": 4160 * n,
                "total_tokens": 4160 * n + 10,
            },
        }
        return JSONResponse(answer)

    async def _edits(self, request: Request) -> Response:
        body, answered = await self._received(request, form=True)
        if answered is not None:
            return answered
        problem = _edit_problem(body)
        if problem is not None:
            return _json(problem)
        first = _edit_images(body)[0]
        size = body.get("size") or "auto"
        if size == "auto":  # the standard size nearest the first image's shape
            width, height = _upright(first["data"])
            size = min(
                sorted(GPT_IMAGE_SIZES - {"auto"}),
                key=lambda s: abs(
                    math.log(int(s.split("x")[0]) / int(s.split("x")[1])) - math.log(width / height)
                ),
            )
        width, height = (int(part) for part in size.split("x"))
        fmt = body.get("output_format") or "png"
        n = int(body.get("n") or 1)
        data = [
            {"b64_json": base64.b64encode(_image(width, height, fmt, index)).decode("ascii")}
            for index in range(n)
        ]
        usage = {"input_tokens": 400, "output_tokens": 4160 * n, "total_tokens": 4160 * n + 400}
        return JSONResponse(
            {
                "created": int(time.time()),
                "background": "opaque",
                "output_format": fmt,
                "quality": body.get("quality") or "medium",
                "size": size,
                "data": data,
                "usage": usage,
            }
        )

    async def _speech(self, request: Request) -> Response:
        body, answered = await self._received(request)
        if answered is not None:
            return answered
        problem = _speech_problem(body)
        if problem is not None:
            return _json(problem)
        fmt = body.get("response_format") or "mp3"
        seconds = max(
            0.5,
            len(str(body["input"]).strip())
            / CHARACTERS_PER_SECOND
            / float(body.get("speed") or 1.0),
        )
        audio = await asyncio.to_thread(_speech_audio, seconds, fmt)
        return Response(audio, media_type=SPEECH_FORMATS[fmt][1])

    async def _transcription(self, request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES:
            return _json(
                error(
                    413,
                    f"Maximum content size limit ({MAX_UPLOAD_BYTES}) exceeded "
                    f"({request.headers['content-length']} bytes read)",
                    "server_error",
                )
            )
        body, answered = await self._received(request, form=True)
        if answered is not None:
            return answered
        problem = _transcription_problem(body)
        if problem is not None:
            return _json(problem)
        seconds = await asyncio.to_thread(_sound_seconds, body["file"]["data"])
        if seconds is None:
            return _json(
                error(
                    400,
                    "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', "
                    "'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']",
                    "invalid_request_error",
                    param="file",
                )
            )
        fmt = body.get("response_format") or "json"
        language = LANGUAGE_NAMES.get(body.get("language") or "en", body.get("language"))
        segments = fake_transcript(seconds)
        text = "".join(segment["text"] for segment in segments).strip()  # as Whisper joins
        if fmt == "text":
            return PlainTextResponse(text + "\n")
        if fmt in ("srt", "vtt"):
            return PlainTextResponse(_captions(segments, fmt))
        if fmt == "json" and body.get("model") == "gpt-transcribe":
            # Billed by tokens; the languages it detected (the one asked for, else English).
            code = body.get("language") or "en"
            tokens = {"type": "tokens", "input_tokens": 50, "output_tokens": 20, "total_tokens": 70}
            return JSONResponse({"text": text, "languages": [{"code": code}], "usage": tokens})
        if fmt == "json":
            usage = {"type": "duration", "seconds": math.ceil(seconds)}
            return JSONResponse({"text": text, "usage": usage})
        granularities = body.get("timestamp_granularities") or ["segment"]
        verbose: dict[str, Any] = {
            "task": "transcribe",
            "language": language,
            "duration": round(seconds, 3),
            "text": text,
            "usage": {"type": "duration", "seconds": math.ceil(seconds)},
        }
        if "segment" in granularities:
            verbose["segments"] = segments
        if "word" in granularities:
            verbose["words"] = fake_words(segments)
        return JSONResponse(verbose)

    async def _chat(self, request: Request) -> Response:
        body, answered = await self._received(request)
        if answered is not None:
            return answered
        problem = _chat_problem(body)
        if problem is not None:
            return _json(problem)
        if body.get("stream"):
            return StreamingResponse(self._stream(body), media_type="text/event-stream")
        if _json_mode(body):
            return JSONResponse(json_completion(body, self.glossary))
        return JSONResponse(chat_completion(body))

    async def _stream(self, body: dict[str, Any]) -> AsyncIterator[str]:
        finished = False
        try:
            for index, chunk in enumerate(chat_chunks(body)):
                if self.stream_break_after is not None and index >= self.stream_break_after:
                    if self.stream_break == "cut":
                        raise ConnectionAbortedError("the fake cuts the stream")
                    yield (
                        "data: "
                        + json.dumps(
                            error(
                                500,
                                "The server had an error while processing your request.",
                                "server_error",
                            ).body
                        )
                        + "\n\n"
                    )
                    finished = True
                    return
                if index and self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            if not finished and self.stream_break_after is None:
                self.streams_abandoned += 1

    async def _file(self, request: Request) -> Response:
        data = self.files.get(request.path_params["name"])
        if data is None:
            return Response("not found", status_code=404)
        return Response(data, media_type="image/png")


async def _form(request: Request) -> dict[str, Any]:
    """A multipart body as a dict: the file as ``{"filename", "content_type", "data"}``;
    ``name[]`` (a list, as OpenAI's client sends one) as a list under ``name``."""
    found: dict[str, Any] = {}
    try:
        form = await request.form()
    except Exception:  # a body that is no form is answered as OpenAI does: 400
        return found
    for key, value in form.multi_items():
        if isinstance(value, str):
            if key.endswith("[]"):
                found.setdefault(key[:-2], []).append(value)
            else:
                found[key] = value
        else:
            data = await value.read()
            item = {"filename": value.filename, "content_type": value.content_type, "data": data}
            if key.endswith("[]"):
                found.setdefault(key[:-2], []).append(item)
            else:
                found[key] = item
    return found


def fake_transcript(seconds: float) -> list[dict[str, Any]]:
    """Whisper's segments for ``seconds`` of sound: one every :data:`SEGMENT_S` (the last one
    shorter), numbered sentences, with every field OpenAI's ``TranscriptionSegment`` has."""
    count = max(1, math.ceil(seconds / SEGMENT_S - 1e-6))
    return [
        {
            "id": index,
            "seek": 0,
            "start": round(index * SEGMENT_S, 3),
            "end": round(min(seconds, (index + 1) * SEGMENT_S), 3),
            "text": f" Fake sentence number {index + 1}.",
            "tokens": [50364, 1000 + index, 50464],
            "temperature": 0.0,
            "avg_logprob": -0.25,
            "compression_ratio": 1.1,
            "no_speech_prob": 0.01,
        }
        for index in range(count)
    ]


def fake_words(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """whisper-1's ``words`` for :func:`fake_transcript`'s segments: each segment's words
    (punctuation left out, as Whisper's word timestamps have it) on an equal share of its time
    each, heard over 80 % of a share centred on the share's start, so the segment's quarter
    points fall inside words and the pauses between words lie off them."""
    words = []
    for segment in segments:
        start, end = float(segment["start"]), float(segment["end"])
        names = [re.sub(r"[^\w']", "", name) for name in segment["text"].split()]
        share = (end - start) / len(names)
        for index, name in enumerate(names):
            words.append(
                {
                    "word": name,
                    "start": round(max(start, start + share * (index - 0.4)), 3),
                    "end": round(start + share * (index + 0.4), 3),
                }
            )
    return words


def _captions(segments: list[dict[str, Any]], fmt: str) -> str:
    separator = "," if fmt == "srt" else "."

    def stamp(value: float) -> str:
        millis = round(value * 1000)
        hours, rest = divmod(millis, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"

    blocks = [
        (f"{i + 1}\n" if fmt == "srt" else "")
        + f"{stamp(s['start'])} --> {stamp(s['end'])}\n{s['text'].strip()}\n"
        for i, s in enumerate(segments)
    ]
    return ("WEBVTT\n\n" if fmt == "vtt" else "") + "\n".join(blocks)


def _sound_seconds(data: bytes) -> float | None:
    """How long the upload's first audio track lasts, or None when it does not decode."""
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            return samples / (stream.rate or 1) if samples else None
    except av.error.FFmpegError:
        return None


def _transcription_problem(body: dict[str, Any]) -> Answer | None:
    model, upload = body.get("model"), body.get("file")
    if not isinstance(upload, dict):
        return error(
            400,
            "Missing required parameter: 'file'.",
            "invalid_request_error",
            "missing_required_parameter",
            "file",
        )
    if model not in TRANSCRIBE_MODELS:
        return error(
            400, f"Invalid value: '{model}'.", "invalid_request_error", "invalid_value", "model"
        )
    fmt = body.get("response_format") or "json"
    if fmt not in TRANSCRIPT_FORMATS[model]:
        return error(
            400,
            f"response_format '{fmt}' is not compatible with model '{model}'. Use 'json' or "
            "'text' instead.",
            "invalid_request_error",
            "unsupported_value",
            "response_format",
        )
    if body.get("timestamp_granularities") and fmt != "verbose_json":
        return error(
            400,
            "timestamp_granularities is only supported with response_format 'verbose_json'.",
            "invalid_request_error",
            "invalid_value",
            "timestamp_granularities",
        )
    return None


def chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A deterministic ``chat.completion``: the reply names how many messages came and repeats
    the last one; tokens are words; ``max_completion_tokens`` / ``max_tokens`` cut the reply
    (``finish_reason: length``). A last message containing :data:`REFUSED_WORD` is refused the
    way OpenAI's models refuse: ``content: null`` and a ``refusal``."""
    messages = body["messages"]
    last = str(messages[-1]["content"])
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    words = f"Reply to {len(messages)} messages: {last}".split()
    bound = body.get("max_completion_tokens") or body.get("max_tokens")
    finish = "stop"
    if REFUSED_WORD in last:
        message["refusal"] = "I'm sorry, I can't help with that."
        words = []
    elif bound is not None and len(words) > int(bound):
        words, finish = words[: int(bound)], "length"
    if words:
        message["content"] = " ".join(words)
    prompt = sum(len(str(item["content"]).split()) for item in messages)
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{body['model']}-2024-07-18",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": len(words),
            "total_tokens": prompt + len(words),
        },
        "system_fingerprint": "fp_fake",
    }


def _json_mode(body: dict[str, Any]) -> bool:
    answer_format = body.get("response_format")
    return isinstance(answer_format, dict) and answer_format.get("type") == "json_object"


def json_completion(body: dict[str, Any], glossary: dict[str, str]) -> dict[str, Any]:
    """A ``chat.completion`` in JSON mode: a translation of ``{"lines": [...]}`` (each line by
    ``glossary``, else marked), any other last message echoed as ``{"reply": ...}``."""
    whole = chat_completion(body)
    last = str(body["messages"][-1]["content"])
    try:
        sent = json.loads(last)
    except ValueError:
        sent = None
    lines = sent.get("lines") if isinstance(sent, dict) else None
    if isinstance(lines, list):
        translations = [glossary.get(str(line), f"{line} [translated]") for line in lines]
        content = json.dumps({"translations": translations}, ensure_ascii=False)
    else:
        content = json.dumps({"reply": last})
    whole["choices"][0]["message"]["content"] = content
    words = len(content.split())
    whole["usage"]["completion_tokens"] = words
    whole["usage"]["total_tokens"] = whole["usage"]["prompt_tokens"] + words
    return whole


def chat_chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`chat_completion` as OpenAI streams it: the role (and empty content) first, one
    word a chunk, the ``finish_reason`` in a chunk with an empty delta, and with
    ``stream_options.include_usage`` every chunk's ``usage`` null and a last one with empty
    ``choices`` and the usage."""
    whole = chat_completion(body)
    [choice] = whole["choices"]
    message = choice["message"]
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    head = {k: whole[k] for k in ("id", "created", "model", "system_fingerprint")}

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        one = {**head, "object": "chat.completion.chunk"}
        one["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if with_usage:
            one["usage"] = None
        return one

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    if message["refusal"]:
        chunks.append(chunk({"refusal": message["refusal"]}, None))
    words = (message["content"] or "").split(" ") if message["content"] else []
    chunks.extend(chunk({"content": (" " if i else "") + w}, None) for i, w in enumerate(words))
    chunks.append(chunk({}, choice["finish_reason"]))
    if with_usage:
        chunks.append(
            {**head, "object": "chat.completion.chunk", "choices": [], "usage": whole["usage"]}
        )
    return chunks


def _reasoning_problem(body: dict[str, Any]) -> Answer | None:
    """What OpenAI's reasoning models refuse: ``max_tokens``, a temperature other than 1."""
    if "max_tokens" in body:
        return error(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.",
            "invalid_request_error",
            "unsupported_parameter",
            "max_tokens",
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return error(
            400,
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported.",
            "invalid_request_error",
            "unsupported_value",
            "temperature",
        )
    return None


def _chat_problem(body: dict[str, Any]) -> Answer | None:
    model, messages = body.get("model"), body.get("messages")
    if model not in CHAT_MODELS:
        return _not_found(model)
    if model in REASONING_CHAT_MODELS:
        refused = _reasoning_problem(body)
        if refused is not None:
            return refused
    if not isinstance(messages, list) or not messages:
        return error(
            400,
            "[] is too short - 'messages'",
            "invalid_request_error",
            "empty_array",
            "messages",
        )
    for index, item in enumerate(messages):
        valid = isinstance(item, dict) and item.get("role") in CHAT_ROLES
        if not valid or not isinstance(item.get("content"), str):
            return error(
                400,
                f"Invalid value for 'messages[{index}]'.",
                "invalid_request_error",
                "invalid_value",
                f"messages[{index}]",
            )
    if _json_mode(body) and not any("json" in str(item["content"]).lower() for item in messages):
        return error(
            400,
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'.",
            "invalid_request_error",
            None,
            "messages",
        )
    options = body.get("stream_options")
    if options is not None and not body.get("stream"):
        return error(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "invalid_request_error",
            "invalid_value",
            "stream_options",
        )
    if "max_tokens" in body and "max_completion_tokens" in body:
        return error(
            400,
            "max_tokens and max_completion_tokens cannot both be set.",
            "invalid_request_error",
            "invalid_value",
            "max_tokens",
        )
    return None


def _json(answer: Answer) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def _image_problem(body: dict[str, Any]) -> Answer | None:
    model, prompt = body.get("model"), body.get("prompt")
    if model in SHUT_DOWN_IMAGE_MODELS:
        return _not_found(model)
    if model not in IMAGE_MODELS:
        return _invalid(
            f"Invalid value: '{model}'. Value must be one of {', '.join(sorted(IMAGE_MODELS))}.",
            "model",
        )
    if not isinstance(prompt, str) or not prompt:
        return error(
            400,
            "Missing required parameter: 'prompt'.",
            "invalid_request_error",
            "missing_required_parameter",
            "prompt",
        )
    size = body.get("size")
    if size is not None and not _size_ok(str(model), str(size)):
        return _invalid(
            f"Invalid value: '{size}'. {_SIZE_RULES[model in FREE_SIZE_MODELS]}", "size"
        )
    n = body.get("n") or 1
    if not isinstance(n, int) or n < 1 or n > 10:
        return _invalid("Invalid 'n': must be between 1 and 10.", "n")
    if body.get("response_format") is not None:
        return error(
            400,
            "Unknown parameter: 'response_format'.",
            "invalid_request_error",
            "unknown_parameter",
            "response_format",
        )
    if (body.get("output_format") or "png") not in IMAGE_FORMATS:
        return _invalid(f"Invalid value: '{body['output_format']}'.", "output_format")
    if REFUSED_WORD in prompt.lower():
        return error(
            400,
            "Your request was rejected by the safety system. If you believe this is an "
            "error, contact us at help.openai.com and include the request ID req_fake.",
            "image_generation_user_error",
            "moderation_blocked",
        )
    return None


_SIZE_RULES = {
    False: "Supported values are: '1024x1024', '1024x1536', '1536x1024', 'auto'.",
    True: "Width and height must both be divisible by 16, the aspect ratio between 1:3 and 3:1, "
    "and the resolution at most 3840x2160.",
}


def _size_ok(model: str, size: str) -> bool:
    if size in GPT_IMAGE_SIZES:
        return True
    if model not in FREE_SIZE_MODELS:
        return False
    parts = size.split("x")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return False
    width, height = int(parts[0]), int(parts[1])
    if width <= 0 or height <= 0 or width % 16 or height % 16:
        return False
    return max(width, height) <= 3 * min(width, height) and width * height <= 3840 * 2160


def _not_found(model: object) -> Answer:
    return Answer(
        404,
        error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ).body,
    )


def _edit_images(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The images of an edit: ``image`` (one file) or ``image[]`` (several)."""
    found = body.get("image")
    if isinstance(found, dict):
        return [found]
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def _upright(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.size


def _invalid(message: str, param: str, code: str = "invalid_value") -> Answer:
    return error(400, message, "invalid_request_error", code, param)


def _edit_problem(body: dict[str, Any]) -> Answer | None:
    """OpenAI's 400 for an edit it refuses, or None."""
    model, prompt, images = body.get("model"), body.get("prompt"), _edit_images(body)
    if model not in EDIT_MODELS:
        return _invalid(
            f"Invalid value: '{model}'. Value must be one of {', '.join(sorted(EDIT_MODELS))}.",
            "model",
        )
    if not images:
        return _invalid(
            "Missing required parameter: 'image'.", "image", "missing_required_parameter"
        )
    if not isinstance(prompt, str) or not prompt:
        return _invalid(
            "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter"
        )
    sizes = []
    for item in images:
        try:
            with Image.open(io.BytesIO(item["data"])) as picture:
                if picture.format not in ("PNG", "JPEG", "WEBP"):
                    raise OSError(picture.format)
                sizes.append(picture.size)
        except OSError:
            return _invalid(
                "Invalid image file or mode for image 1, please check your image file.",
                "image",
                "invalid_image_format",
            )
    mask = body.get("mask")
    if isinstance(mask, dict):
        try:
            with Image.open(io.BytesIO(mask["data"])) as picture:
                mask_ok = picture.format == "PNG" and picture.size == sizes[0]
        except OSError:
            mask_ok = False
        if not mask_ok:
            return _invalid(
                "Invalid mask image: it must be a PNG of the same dimensions as the image.",
                "mask",
                "invalid_image_format",
            )
    if body.get("size") is not None and body["size"] not in GPT_IMAGE_SIZES:
        return _invalid(f"Invalid value: '{body['size']}'.", "size")
    n = body.get("n") or "1"
    if not str(n).isdigit() or not 1 <= int(n) <= 10:
        return _invalid(f"Invalid 'n': {n}. Expected a value between 1 and 10.", "n")
    if (body.get("output_format") or "png") not in IMAGE_FORMATS:
        return _invalid(f"Invalid value: '{body['output_format']}'.", "output_format")
    if (body.get("quality") or "auto") not in ("low", "medium", "high", "auto"):
        return _invalid(f"Invalid value: '{body['quality']}'.", "quality")
    if (body.get("input_fidelity") or "low") not in ("low", "high"):
        return _invalid(f"Invalid value: '{body['input_fidelity']}'.", "input_fidelity")
    if REFUSED_WORD in prompt.lower():
        return error(
            400,
            "Your request was rejected by the safety system. If you believe this is an "
            "error, contact us at help.openai.com and include the request ID req_fake.",
            "image_generation_user_error",
            "moderation_blocked",
        )
    return None


def _speech_problem(body: dict[str, Any]) -> Answer | None:
    model, text, voice = body.get("model"), body.get("input"), body.get("voice")
    if model not in SPEECH_MODELS:
        return error(
            400, f"Invalid value: '{model}'.", "invalid_request_error", "invalid_value", "model"
        )
    if not isinstance(text, str) or not text:
        return error(
            400,
            "Missing required parameter: 'input'.",
            "invalid_request_error",
            "missing_required_parameter",
            "input",
        )
    if len(text) > 4096:
        return error(
            400,
            "[{'type': 'string_too_long', 'loc': ('body', 'input'), "
            "'msg': 'String should have at most 4096 characters'}]",
            "invalid_request_error",
            None,
            "input",
        )
    voices = VOICES if model == "gpt-4o-mini-tts" else TTS_1_VOICES
    if voice not in voices:
        return error(
            400,
            f"Invalid value: '{voice}'. Supported values are: {', '.join(sorted(voices))}.",
            "invalid_request_error",
            "invalid_value",
            "voice",
        )
    if (body.get("response_format") or "mp3") not in SPEECH_FORMATS:
        return error(
            400,
            f"Invalid value: '{body['response_format']}'.",
            "invalid_request_error",
            "invalid_value",
            "response_format",
        )
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
        return error(
            400,
            f"Invalid 'speed': {speed}. Expected a value between 0.25 and 4.0.",
            "invalid_request_error",
            "invalid_value",
            "speed",
        )
    return None


def _image(width: int, height: int, fmt: str, index: int) -> bytes:
    """An opaque picture (a gradient, different for each index) in ``fmt``."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image.paste((40 * index % 256, 90, 160), (0, 0, width // 4, height // 4))
    buffer = io.BytesIO()
    image.save(buffer, format=IMAGE_FORMATS[fmt][0])
    return buffer.getvalue()


def _speech_audio(seconds: float, fmt: str) -> bytes:
    """A voice-like tone of ``seconds`` in OpenAI's ``response_format``."""
    count = round(seconds * SPEECH_RATE)
    t = np.arange(count, dtype=np.float32) / SPEECH_RATE
    samples = (
        0.3 * np.sin(2 * math.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * math.pi * 3 * t))
    ).astype(np.float32)
    if fmt == "pcm":
        return (samples * 32767).astype("<i2").tobytes()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"speech.{SPEECH_FORMATS[fmt][0]}"
        write_audio(path, samples, SPEECH_RATE, SPEECH_FORMATS[fmt][0])  # type: ignore[arg-type]
        return path.read_bytes()


class RunningOpenAI(Loopback[FakeOpenAI]):
    """``with RunningOpenAI() as fake: fake.api_url`` — uvicorn on a free loopback port."""

    def __init__(self, fake: FakeOpenAI | None = None) -> None:
        super().__init__(fake or FakeOpenAI(), "OpenAI", force_exit=True)
