"""A fake ElevenLabs on 127.0.0.1 that speaks the real HTTP protocol of the two endpoints this
server uses (a Starlette app under uvicorn, in a thread), faithful enough that the official
``elevenlabs`` client works against it (``test_fake_elevenlabs.py`` proves it):

- ``POST /v1/text-to-speech/{voice_id}?output_format=…`` with ``{"text", "model_id",
  "language_code"?, "voice_settings"?, …}``: the audio file itself, ``mp3_<rate>_<kbps>`` as MP3,
  ``wav_<rate>`` as WAV, ``pcm_<rate>`` as raw 16-bit mono samples, about as long as a voice
  takes to say the text at ``voice_settings.speed`` (15 characters a second), with ElevenLabs'
  ``request-id`` and ``x-character-count`` headers. An unknown voice is 404 ``voice_not_found``,
  an unknown model 400 ``model_not_found``, ``language_code`` on eleven_multilingual_v2 400
  ``unsupported_language``, an output format outside ElevenLabs' list or a missing ``text`` 422
  (FastAPI's list of typed errors), a speed outside 0.7 to 1.2 400 ``invalid_voice_settings``.
  A text containing :data:`REFUSED_WORD` is refused as ElevenLabs refuses content: 400
  ``bad_prompt`` ("violated our Terms of Service").
- ``GET /v1/voices``: the account's voices (:data:`VOICES`), with labels and verified languages.
- ``POST /v1/voices/add`` (multipart: ``name``, ``files`` repeated, ``remove_background_noise``,
  ``description``, ``labels`` as a JSON string): instant voice cloning, answers ``{"voice_id",
  "requires_verification"}``; the voice then speaks and is listed (category ``cloned``). A
  missing name or file is 422 (typed list); a file that is not audio (RIFF/WAVE, MP3, Ogg,
  FLAC) 400 ``invalid_audio``. Each clone is kept in :attr:`FakeElevenLabs.cloned` with its
  samples' bytes.
- ``GET /v1/voices/{voice_id}`` (the voice) and ``DELETE /v1/voices/{voice_id}`` (``{"status":
  "ok"}``); an unknown id is 400 ``voice_does_not_exist`` as ElevenLabs answers it.
- ``xi-api-key: <key>`` or 401 ``invalid_api_key``; errors are ``{"detail": {"status",
  "message"}}``.
- :meth:`FakeElevenLabs.script` scripts the next answers of an endpoint (a 429 with
  ``retry-after``, a 500, ``quota_exceeded``…) before it behaves normally; everything received is
  recorded.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediastudio.engines.media.audio import write_audio
from tests.providers.loopback import Loopback

KEY = "sk_fake0000000000000000000000000000000000000000000"
REFUSED_WORD = "forbidden"
MODELS = {"eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_v3"}
NO_LANGUAGE_CODE = {"eleven_multilingual_v2"}
CHARACTERS_PER_SECOND = 15.0
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
SPEECH, VOICE_LIST, CLONE, VOICE_DELETE = "speech", "voices", "clone", "delete"
GEORGE, ALICE, MATILDA = "JBFqnCBsd6RMkjVDRZzb", "Xb7hH8MSUJpSbSDYk0k2", "XrExE9yKIg1WjnnlVkGX"
VOICES: list[dict[str, Any]] = [
    {
        "voice_id": GEORGE,
        "name": "George",
        "category": "premade",
        "labels": {"accent": "british", "gender": "male", "age": "middle_aged"},
        "verified_languages": [],
    },
    {
        "voice_id": ALICE,
        "name": "Alice",
        "category": "premade",
        "labels": {"accent": "british", "gender": "female", "language": "en"},
        "verified_languages": [
            {"language": "en", "model_id": "eleven_multilingual_v2", "locale": "en-GB"},
            {"language": "it", "model_id": "eleven_multilingual_v2", "locale": "it-IT"},
            {"language": "en", "model_id": "eleven_flash_v2_5", "locale": "en-GB"},
        ],
    },
    {
        "voice_id": MATILDA,
        "name": "Matilda",
        "category": "professional",
        "labels": {"gender": "female"},
        "verified_languages": [
            {"language": "de", "model_id": "eleven_flash_v2_5", "locale": "de-DE"},
        ],
    },
]
OUTPUT_FORMATS = {
    "mp3_22050_32",
    "mp3_44100_64",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_44100",
    "wav_16000",
    "wav_22050",
    "wav_24000",
    "wav_44100",
}
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm"}


@dataclass
class Answer:
    """A scripted answer: status, JSON body, headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"detail": {"status": code, "message": message}})


def rate_limited(retry_after_s: int = 1) -> Answer:
    """ElevenLabs' 429 when the plan's concurrency is used up, with a ``retry-after``."""
    answer = error(
        429,
        "too_many_concurrent_requests",
        "Too many concurrent requests. Your current subscription is associated with a maximum "
        "of 2 concurrent requests running in parallel.",
    )
    answer.headers["retry-after"] = str(retry_after_s)
    return answer


def out_of_quota() -> Answer:
    return error(
        401,
        "quota_exceeded",
        "This request exceeds your quota of 10000. You have 0 credits remaining, while 91 "
        "credits are required for this request.",
    )


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Cloned:
    """A voice cloned on the fake: its listing and the samples it was made from."""

    voice: dict[str, Any]
    samples: list[tuple[str, bytes]]  # (filename, bytes)
    form: dict[str, str]


AUDIO_MAGIC = (b"RIFF", b"ID3", b"\xff\xfb", b"\xff\xf3", b"OggS", b"fLaC")


@dataclass
class FakeElevenLabs:
    key: str = KEY
    base_url: str = ""
    answers: dict[str, deque[Answer]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    slow_s: float = 0.0  # hold each generation this long (a cancel must not wait for it)
    cloned: dict[str, Cloned] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)

    def script(self, *answers: Answer, endpoint: str = SPEECH) -> None:
        """The next answers of ``endpoint`` (:data:`SPEECH` or :data:`VOICE_LIST`), in order."""
        self.answers.setdefault(endpoint, deque()).extend(answers)

    def speech_calls(self) -> list[Received]:
        return [r for r in self.received if r.path.startswith("/v1/text-to-speech/")]

    def voice_calls(self) -> list[Received]:
        return [r for r in self.received if r.path == "/v1/voices"]

    def clone_calls(self) -> list[Received]:
        return [r for r in self.received if r.path == "/v1/voices/add"]

    def delete_calls(self) -> list[Received]:
        return [r for r in self.received if r.method == "DELETE"]

    def known_voices(self) -> list[dict[str, Any]]:
        return VOICES + [clone.voice for clone in self.cloned.values()]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/text-to-speech/{voice_id}", self._speech, methods=["POST"]),
                Route("/v1/voices", self._voices, methods=["GET"]),
                Route("/v1/voices/add", self._clone, methods=["POST"]),
                Route("/v1/voices/{voice_id}", self._voice, methods=["GET", "DELETE"]),
            ]
        )

    async def _received(self, request: Request) -> tuple[Any, Response | None]:
        body: Any = None
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                body = None
        self.received.append(
            Received(
                request.method,
                request.url.path,
                dict(request.query_params),
                dict(request.headers),
                body,
            )
        )
        if request.headers.get("xi-api-key") != self.key:
            return body, _json(error(401, "invalid_api_key", "Invalid API key"))
        return body, None

    async def _voices(self, request: Request) -> Response:
        _, answered = await self._received(request)
        if answered is not None:
            return answered
        if self.answers.get(VOICE_LIST):
            return _json(self.answers[VOICE_LIST].popleft())
        return JSONResponse({"voices": self.known_voices()})

    async def _clone(self, request: Request) -> Response:
        _, answered = await self._received(request)
        if answered is not None:
            return answered
        form = await request.form()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        uploads = [
            (str(item.filename), await item.read())
            for item in form.getlist("files")
            if not isinstance(item, str)
        ]
        self.received[-1].body = {"form": fields, "files": [name for name, _ in uploads]}
        if self.answers.get(CLONE):
            return _json(self.answers[CLONE].popleft())
        if not fields.get("name"):
            return _json(_missing("body", "name"))
        if not uploads:
            return _json(_missing("body", "files"))
        for name, data in uploads:
            if not data.startswith(AUDIO_MAGIC):
                message = f"The file {name} is not a supported audio file."
                return _json(error(400, "invalid_audio", message))
        voice_id = "".join(secrets.choice(ID_ALPHABET) for _ in range(20))
        labels = json.loads(fields.get("labels") or "{}")
        voice = {
            "voice_id": voice_id,
            "name": fields["name"],
            "category": "cloned",
            "description": fields.get("description"),
            "labels": labels if isinstance(labels, dict) else {},
            "verified_languages": [],
        }
        self.cloned[voice_id] = Cloned(voice, uploads, fields)
        return JSONResponse({"voice_id": voice_id, "requires_verification": False})

    async def _voice(self, request: Request) -> Response:
        _, answered = await self._received(request)
        if answered is not None:
            return answered
        voice_id = request.path_params["voice_id"]
        if request.method == "DELETE" and self.answers.get(VOICE_DELETE):
            return _json(self.answers[VOICE_DELETE].popleft())
        found = next((v for v in self.known_voices() if v["voice_id"] == voice_id), None)
        if found is None:
            message = f"A voice with voice_id {voice_id} does not exist."
            return _json(error(400, "voice_does_not_exist", message))
        if request.method == "GET":
            return JSONResponse(found)
        if voice_id not in self.cloned:
            return _json(error(400, "invalid_voice", "Premade voices cannot be deleted."))
        del self.cloned[voice_id]
        self.deleted.append(voice_id)
        return JSONResponse({"status": "ok"})

    async def _speech(self, request: Request) -> Response:
        body, answered = await self._received(request)
        if answered is not None:
            return answered
        if self.answers.get(SPEECH):
            return _json(self.answers[SPEECH].popleft())
        output_format = request.query_params.get("output_format", "mp3_44100_128")
        known = {voice["voice_id"] for voice in self.known_voices()}
        problem = _speech_problem(request.path_params["voice_id"], body, output_format, known)
        if problem is not None:
            return _json(problem)
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        settings = body.get("voice_settings") or {}
        seconds = max(
            0.5,
            len(str(body["text"]).strip())
            / CHARACTERS_PER_SECOND
            / float(settings.get("speed", 1)),
        )
        audio = await asyncio.to_thread(_audio, seconds, output_format)
        return Response(
            audio,
            media_type=CONTENT_TYPES[output_format.split("_")[0]],
            headers={
                "request-id": secrets.token_hex(10),
                "x-character-count": str(len(body["text"])),
            },
        )


def _json(answer: Answer) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def _missing(where: str, name: str) -> Answer:
    return Answer(
        422,
        {"detail": [{"type": "missing", "loc": [where, name], "msg": "Field required"}]},
    )


def _speech_problem(voice_id: str, body: Any, output_format: str, known: set[str]) -> Answer | None:
    if output_format not in OUTPUT_FORMATS:
        return Answer(
            422,
            {
                "detail": [
                    {
                        "type": "enum",
                        "loc": ["query", "output_format"],
                        "msg": f"Input should be one of {', '.join(sorted(OUTPUT_FORMATS))}",
                    }
                ]
            },
        )
    if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
        return _missing("body", "text")
    model = body.get("model_id") or "eleven_multilingual_v2"
    if model not in MODELS:
        return error(400, "model_not_found", f"A model with model ID {model} was not found.")
    if voice_id not in known:
        return error(404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")
    if body.get("language_code") is not None and model in NO_LANGUAGE_CODE:
        return error(
            400,
            "unsupported_language",
            f"Model '{model}' does not support the language_code {body['language_code']}.",
        )
    speed = (body.get("voice_settings") or {}).get("speed", 1.0)
    if not isinstance(speed, int | float) or not 0.7 <= speed <= 1.2:
        return error(400, "invalid_voice_settings", "Speed must be between 0.7 and 1.2.")
    if REFUSED_WORD in body["text"].lower():
        return error(
            400,
            "bad_prompt",
            "Your prompt appears to have violated our Terms of Service. Please try again with "
            "a different prompt.",
        )
    return None


def _audio(seconds: float, output_format: str) -> bytes:
    """A voice-like tone of ``seconds`` in ElevenLabs' ``output_format``."""
    codec, rate = output_format.split("_")[0], int(output_format.split("_")[1])
    count = round(seconds * rate)
    t = np.arange(count, dtype=np.float32) / rate
    samples = (
        0.3 * np.sin(2 * math.pi * 200 * t) * (0.6 + 0.4 * np.sin(2 * math.pi * 3 * t))
    ).astype(np.float32)
    if codec == "pcm":
        return (samples * 32767).astype("<i2").tobytes()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"speech.{codec}"
        write_audio(path, samples, rate, codec)  # type: ignore[arg-type]
        return path.read_bytes()


class RunningElevenLabs(Loopback[FakeElevenLabs]):
    """``with RunningElevenLabs() as fake: fake.base_url`` — uvicorn on a free loopback port."""

    def __init__(self, fake: FakeElevenLabs | None = None) -> None:
        super().__init__(fake or FakeElevenLabs(), "ElevenLabs", force_exit=True)
