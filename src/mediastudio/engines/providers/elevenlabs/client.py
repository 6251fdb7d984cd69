"""ElevenLabs' HTTP API, as its official Python client (``elevenlabs``) speaks it.

- ``POST /v1/text-to-speech/{voice_id}?output_format=…`` with ``{"text", "model_id",
  "language_code"?, "voice_settings"?, …}`` answers the audio file itself.
- ``GET /v1/voices`` answers ``{"voices": [{"voice_id", "name", "labels", "verified_languages":
  [{"language", "model_id", "locale"…}], …}]}``: the account's voices (premade ones included).
- Auth: the bare key in ``xi-api-key``. Errors are ``{"detail": {"status", "message"}}`` (or
  ``{"detail": "…"}``; a 422 is FastAPI's list of typed errors). A 401 whose status is
  ``quota_exceeded`` is the account being out of characters, not a bad key; a 400
  ``bad_prompt`` ("violated our Terms of Service") is a content refusal. A 429
  (``too_many_concurrent_requests``, ``system_busy``) may carry ``retry-after``.

- ``POST /v1/voices/add`` (multipart: ``name``, ``files`` repeated, ``remove_background_noise``,
  ``description``, ``labels`` as a JSON string) answers ``{"voice_id", "requires_verification"}``:
  instant voice cloning; ``DELETE /v1/voices/{voice_id}`` answers ``{"status": "ok"}``.

Speech is synchronous: the answer is the output, and there is no provider-side job to store,
poll, resume or cancel (see docs/providers/elevenlabs.md#synchronous-calls). So is cloning.

The voices MediaStudio clones for its accounts live in the operator's ElevenLabs account, so
``GET /v1/voices`` lists them too: their description starts with :data:`CLONE_MARKER`, and they
are left out of the engine's voice list (each account sees its own as ``voice_…`` ids).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from mediastudio.engines.contract import InvalidPrompt, ProviderError, Voice
from mediastudio.engines.media.files import content_type
from mediastudio.engines.providers.elevenlabs.mapping import OUTPUT_FORMAT, VOICE_ID
from mediastudio.engines.providers.http import Pause, ProviderHttp, no_pause, problem_detail
from mediastudio.engines.providers.media import Delivered
from mediastudio.settings import ElevenLabsSettings

NAME = "elevenlabs"
PUBLIC_URL = "https://api.elevenlabs.io"
API_KEY_SETTING = "MEDIASTUDIO_PROVIDERS__ELEVENLABS__API_KEY"
AUTH_HEADER = "xi-api-key"
NO_QUOTA_STATUS = "quota_exceeded"
REFUSAL_STATUSES = frozenset({"bad_prompt", "content_against_policy", "tos_violation"})
# The language of a voice that says nothing of its own: ElevenLabs' premade voices are English.
DEFAULT_LANGUAGE = "en"
# The description of every voice cloned here starts with this (and names the voice_… id).
CLONE_MARKER = "MediaStudio custom voice"
VOICE_NOT_FOUND = "voice_not_found"


@dataclass(frozen=True)
class Cloned:
    voice_id: str
    requires_verification: bool


@dataclass(frozen=True)
class _Cached:
    voices: tuple[dict[str, Any], ...]
    until: float


class ElevenLabs:
    """The synchronous adapter of ElevenLabs' text to speech, and its voice list."""

    name = NAME

    def __init__(
        self, settings: ElevenLabsSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.http = ProviderHttp.configured(
            NAME,
            settings,
            public_url=PUBLIC_URL,
            setting=API_KEY_SETTING,
            auth_header=AUTH_HEADER,
            transport=transport,
        )
        self.voices_ttl_s = settings.voices_ttl_s
        self._voices: _Cached | None = None

    async def call(self, target: str, payload: dict[str, Any], pause: Pause) -> list[Delivered]:
        """Say ``payload``'s text with ``target`` (a ``model_id``); the answer is the audio."""
        body = dict(payload)
        voice_id, output_format = str(body.pop(VOICE_ID)), str(body.pop(OUTPUT_FORMAT))
        # Never repeated after a 5xx: the characters may have been spent (as with OpenAI).
        response = await self.http.send(
            "POST",
            f"/v1/text-to-speech/{quote(voice_id, safe='')}",
            params={OUTPUT_FORMAT: output_format},
            json={**body, "model_id": target},
            pause=pause,
            retry=False,
        )
        _refusals(response)
        self.http.check(response)
        if not response.content:
            raise ProviderError("ElevenLabs answered a speech request with no audio.")
        return [Delivered(data=response.content, suffix="." + output_format.split("_")[0])]

    async def voices(self, model_id: str, pause: Pause) -> list[Voice]:
        """The account's voices, with the languages each speaks on ``model_id``."""
        return [_voice(item, model_id) for item in await self._voice_list(pause)]

    async def _voice_list(self, pause: Pause) -> tuple[dict[str, Any], ...]:
        now = time.monotonic()
        if self._voices is not None and now < self._voices.until:
            return self._voices.voices
        response = await self.http.send("GET", "/v1/voices", pause=pause, retry=True)
        _refusals(response)
        self.http.check(response)
        try:
            listed = response.json().get("voices")
        except (ValueError, AttributeError) as exc:
            raise ProviderError("ElevenLabs answered GET /v1/voices with no voice list.") from exc
        if not isinstance(listed, list):
            raise ProviderError("ElevenLabs answered GET /v1/voices with no voice list.")
        voices = tuple(
            v
            for v in listed
            if isinstance(v, dict)
            and isinstance(v.get("voice_id"), str)
            and not str(v.get("description") or "").startswith(CLONE_MARKER)
        )
        self._voices = _Cached(voices, now + self.voices_ttl_s)
        return voices

    async def clone(
        self,
        name: str,
        samples: list[Path],
        *,
        tag: str,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        remove_background_noise: bool = False,
        pause: Pause = no_pause,
    ) -> Cloned:
        """Instant voice cloning from ``samples`` (audio files); ``tag`` (our ``voice_…`` id)
        goes in the description after :data:`CLONE_MARKER`. Never repeated after a 5xx: the
        voice may have been made (a retry would make a second one)."""
        text = f"{CLONE_MARKER} {tag}" + (f": {description}" if description else "")
        data = {
            "name": name,
            "description": text,
            "remove_background_noise": "true" if remove_background_noise else "false",
            "labels": json.dumps(dict(labels or {})),
        }
        # Read whole (samples are bounded, and a 429 waited out sends them again).
        files = [
            ("files", (path.name, await asyncio.to_thread(path.read_bytes), _audio_type(path)))
            for path in samples
        ]
        response = await self.http.send(
            "POST", "/v1/voices/add", data=data, files=files, pause=pause, retry=False
        )
        _refusals(response)
        self.http.check(response)
        try:
            body = response.json()
            voice_id = body["voice_id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError("ElevenLabs answered a voice cloning with no voice_id.") from exc
        if not isinstance(voice_id, str) or not voice_id:
            raise ProviderError("ElevenLabs answered a voice cloning with no voice_id.")
        self._voices = None  # the list changed
        return Cloned(voice_id, bool(body.get("requires_verification")))

    async def delete_voice(self, voice_id: str, pause: Pause = no_pause) -> bool:
        """Delete a voice; False when ElevenLabs no longer has it (deleted already)."""
        response = await self.http.send(
            "DELETE", f"/v1/voices/{quote(voice_id, safe='')}", pause=pause, retry=True
        )
        if response.status_code in (400, 404) and _status(response) in (
            VOICE_NOT_FOUND,
            "voice_does_not_exist",
        ):
            return False
        _refusals(response)
        self.http.check(response)
        self._voices = None
        return True

    async def aclose(self) -> None:
        await self.http.aclose()


def _refusals(response: httpx.Response) -> None:
    """ElevenLabs' answers that :meth:`ProviderHttp.check` would misread."""
    status = _status(response)
    if response.status_code == 401 and status == NO_QUOTA_STATUS:
        raise ProviderError(
            f"ElevenLabs refused the request: the operator's account is out of quota "
            f"({problem_detail(response)})."
        )
    if 400 <= response.status_code < 500 and (
        status in REFUSAL_STATUSES or "terms of service" in problem_detail(response).lower()
    ):
        raise InvalidPrompt(
            f"ElevenLabs refused the text under its terms of service: {problem_detail(response)}"
        )


def _audio_type(path: Path) -> str:
    return content_type(path.suffix)


def _status(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    status = detail.get("status") if isinstance(detail, dict) else None
    return status if isinstance(status, str) else None


def _voice(item: Mapping[str, Any], model_id: str) -> Voice:
    labels = item.get("labels") if isinstance(item.get("labels"), dict) else {}
    assert isinstance(labels, dict)
    gender = labels.get("gender")
    return Voice(
        id=item["voice_id"],
        name=str(item.get("name") or item["voice_id"]),
        languages=_languages(item, model_id, labels),
        gender=gender if isinstance(gender, str) else None,
    )


def _languages(
    item: Mapping[str, Any], model_id: str, labels: Mapping[str, Any]
) -> tuple[str, ...]:
    """The languages ElevenLabs verified the voice in on ``model_id``; else its label's; else
    English (the premade voices)."""
    verified = item.get("verified_languages") or []
    found = [
        str(entry["language"]).lower()
        for entry in verified
        if isinstance(entry, dict)
        and isinstance(entry.get("language"), str)
        and entry.get("model_id") in (None, model_id)
    ]
    label = labels.get("language")
    if isinstance(label, str) and label:
        found.append(label.lower())
    return tuple(dict.fromkeys(found)) or (DEFAULT_LANGUAGE,)
