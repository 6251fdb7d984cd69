"""OpenAI's HTTP API, as its official Python client (``openai``) speaks it.

- ``POST /images/generations`` with ``{"model", "prompt", "n", "size", …}`` answers
  ``{"created", "data": [{"b64_json" | "url", "revised_prompt"?}]}``: the GPT image models
  (gpt-image-2, gpt-image-1.5) always answer base64; the retired dall-e-3 answered what
  ``response_format`` asked (``url`` by default; its URLs expired after an hour, so we asked
  for ``b64_json`` and still read a URL when one came).
- ``POST /images/edits``, multipart: ``image`` (the file; the client names a list of them
  ``image[]``), ``mask`` (a PNG, optional), ``model``, ``prompt``, ``n``, ``size``,
  ``output_format``, ``quality``, ``input_fidelity``; answers as ``/images/generations`` does
  (GPT image models: ``b64_json``).
- ``POST /audio/speech`` with ``{"model", "input", "voice", "response_format", "speed",
  "instructions"?}`` answers the audio file itself.
- ``POST /audio/transcriptions``, multipart: ``file``, ``model``, ``response_format``
  (``verbose_json`` with ``timestamp_granularities[]=segment`` for whisper-1, whose segments
  carry times; ``json`` for gpt-transcribe and the gpt-4o models, which give text only),
  ``language``, ``prompt``; answers the transcript as JSON. OpenAI reads files of 25 MB at most.
- ``POST /chat/completions`` with ``{"model", "messages", "response_format"}`` answers a
  ``chat.completion`` (a translation job's one message; conversations use :mod:`.chat`).
- Auth: ``Authorization: Bearer <key>``. Errors are ``{"error": {"message", "type", "param",
  "code"}}``; a content-policy refusal is a 400 whose code is ``content_policy_violation``
  (dall-e-3) or ``moderation_blocked`` (the GPT image models). A 429 carries ``retry-after-ms`` /
  ``retry-after`` (and ``x-ratelimit-*``); one coded ``insufficient_quota`` is the account being
  out of credit, which no wait cures.

All calls are synchronous: the answer is the output, and there is no provider-side job to
store, poll, resume or cancel. A restart mid-call calls again (see
docs/providers/openai.md#synchronous-calls).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mediastudio.engines.contract import InvalidPrompt, ProviderError
from mediastudio.engines.media.speech_audio import SpeechAudio
from mediastudio.engines.providers.http import Pause, ProviderHttp, problem_detail
from mediastudio.engines.providers.media import Delivered
from mediastudio.settings import ProviderSettings

NAME = "openai"
PUBLIC_URL = "https://api.openai.com/v1"
API_KEY_SETTING = "MEDIASTUDIO_PROVIDERS__OPENAI__API_KEY"
IMAGES, SPEECH = "images", "speech"
# Which endpoint serves each model this server routes to OpenAI.
ENDPOINTS: Mapping[str, str] = {
    "gpt-image-2": IMAGES,
    "gpt-image-1.5": IMAGES,
    "gpt-image-1": IMAGES,
    "dall-e-3": IMAGES,
    "gpt-4o-mini-tts": SPEECH,
    "tts-1": SPEECH,
}
REFUSAL_CODES = frozenset({"content_policy_violation", "moderation_blocked"})
NO_QUOTA_CODE = "insufficient_quota"


class OpenAI:
    """The synchronous adapter of OpenAI's images and speech endpoints."""

    name = NAME

    def __init__(
        self, settings: ProviderSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.http = ProviderHttp.configured(
            NAME,
            settings,
            public_url=PUBLIC_URL,
            setting=API_KEY_SETTING,
            transport=transport,
        )

    async def call(self, target: str, payload: dict[str, Any], pause: Pause) -> list[Delivered]:
        """Run ``target`` on ``payload`` (the body less its ``model``) and return its outputs."""
        endpoint = ENDPOINTS.get(target)
        if endpoint == IMAGES:
            return await self._images(target, payload, pause)
        if endpoint == SPEECH:
            return [await self._speech(target, payload, pause)]
        raise ValueError(f"no OpenAI endpoint known for {target!r}")

    async def transcribe(
        self, target: str, audio: SpeechAudio, fields: dict[str, Any], pause: Pause
    ) -> dict[str, Any]:
        """Transcribe ``audio`` with ``target``; ``fields`` are the form's other fields (a list
        is sent as OpenAI's client sends one: ``name[]`` repeated). Returns the JSON answer."""
        data: dict[str, str | list[str]] = {"model": target}
        for name, value in fields.items():
            if isinstance(value, list):
                data[f"{name}[]"] = [str(item) for item in value]
            else:
                data[name] = str(value)
        content = await asyncio.to_thread(audio.path.read_bytes)
        response = await self._post(
            "/audio/transcriptions",
            None,
            pause,
            data=data,
            files={"file": (audio.filename, content, audio.content_type)},
        )
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError("OpenAI answered a transcription with something not JSON.") from exc
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise ProviderError("OpenAI answered a transcription without its text.")
        return body

    async def chat(self, body: dict[str, Any], pause: Pause) -> dict[str, Any]:
        """``POST /chat/completions`` with ``body`` (a job's one message: the translation step
        of a dubbing job); returns the ``chat.completion`` answer."""
        response = await self._post("/chat/completions", body, pause)
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProviderError("OpenAI answered a chat request with something not JSON.") from exc
        if not isinstance(answer, dict):
            raise ProviderError("OpenAI answered a chat request with something not an object.")
        return answer

    async def edit(
        self,
        target: str,
        image: Upload,
        mask: Upload | None,
        fields: dict[str, Any],
        pause: Pause,
    ) -> list[Delivered]:
        """Edit ``image`` with ``target`` as ``fields`` say (the form's other fields); returns
        the edited images."""
        data = {"model": target, **{name: str(value) for name, value in fields.items()}}
        files = {"image": image.as_file()}
        if mask is not None:
            files["mask"] = mask.as_file()
        response = await self._post("/images/edits", None, pause, data=data, files=files)
        return _images_answered(response, fields)

    async def _images(self, target: str, payload: dict[str, Any], pause: Pause) -> list[Delivered]:
        response = await self._post("/images/generations", {**payload, "model": target}, pause)
        return _images_answered(response, payload)

    async def _speech(self, target: str, payload: dict[str, Any], pause: Pause) -> Delivered:
        response = await self._post("/audio/speech", {**payload, "model": target}, pause)
        if not response.content:
            raise ProviderError("OpenAI answered a speech request with no audio.")
        return Delivered(data=response.content, suffix=_speech_suffix(payload))

    async def _post(
        self, path: str, body: dict[str, Any] | None, pause: Pause, **form: Any
    ) -> httpx.Response:
        # Never repeated after a 5xx: the work may have been done, and billed (the official
        # client would retry; a job here fails, refunded, or fails over instead).
        sent = {"json": body} if body is not None else form
        response = await self.http.send(
            "POST", path, pause=pause, retry=False, hopeless=_out_of_quota, **sent
        )
        if response.status_code == 400 and _error_code(response) in REFUSAL_CODES:
            raise InvalidPrompt(
                f"OpenAI refused the request under its content policy: {problem_detail(response)}"
            )
        if response.status_code == 429 and _out_of_quota(response):
            raise ProviderError(
                f"OpenAI refused the request: the operator's account is out of quota "
                f"({problem_detail(response)})."
            )
        return self.http.check(response)

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart form: its name, bytes and type."""

    filename: str
    data: bytes
    media_type: str

    def as_file(self) -> tuple[str, bytes, str]:
        return (self.filename, self.data, self.media_type)


def _images_answered(response: httpx.Response, payload: Mapping[str, Any]) -> list[Delivered]:
    """The images of an answer of ``/images/generations`` or ``/images/edits``."""
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError("OpenAI answered an image request with something not JSON.") from exc
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ProviderError("OpenAI answered an image request without images.")
    suffix = "." + str(payload.get("output_format") or "png").replace("jpeg", "jpg")
    return [_image(item, suffix) for item in items]


def _image(item: Any, suffix: str) -> Delivered:
    if not isinstance(item, dict):
        raise ProviderError("OpenAI answered an image that is not an object.")
    encoded, url = item.get("b64_json"), item.get("url")
    if isinstance(encoded, str) and encoded:
        try:
            return Delivered(data=base64.b64decode(encoded, validate=True), suffix=suffix)
        except (binascii.Error, ValueError) as exc:
            raise ProviderError("OpenAI answered an image whose base64 is broken.") from exc
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return Delivered(url=url, suffix=suffix)
    raise ProviderError("OpenAI answered an image with neither b64_json nor url.")


def _speech_suffix(payload: Mapping[str, Any]) -> str:
    answered = str(payload.get("response_format") or "mp3")
    return ".ogg" if answered == "opus" else f".{answered}"


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _error_code(response: httpx.Response) -> str | None:
    code = _error(response).get("code")
    return code if isinstance(code, str) else None


def _out_of_quota(response: httpx.Response) -> bool:
    return response.status_code == 429 and _error_code(response) == NO_QUOTA_CODE
