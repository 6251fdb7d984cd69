"""Replicate's HTTP API, as its official Python client (``replicate``) speaks it.

- ``POST /v1/models/{owner}/{name}/predictions`` with ``{"input": …}`` creates a prediction of
  the model's latest version (``Prefer: wait=N`` holds the request up to N seconds; off by
  default, see :class:`~mediastudio.settings.ProviderSettings`).
- ``GET /v1/predictions/{id}`` reads it: ``status`` is ``starting``, ``processing``,
  ``succeeded``, ``failed`` or ``canceled`` (``aborted`` for one stopped before it started);
  ``output`` holds file URLs (a string, a list, or an object of them); ``logs`` may carry a
  tqdm progress bar, which the official client parses with the pattern used here.
- ``POST /v1/predictions/{id}/cancel`` cancels it; ``POST /v1/files`` (multipart ``content``)
  stores an input file and answers its ``urls.get``.
- Auth: ``Authorization: Bearer <token>``. Errors are RFC 7807 problem documents
  (``{"title", "detail", "status"}``; 422 adds ``invalid_fields``); 429 says
  ``"Request was throttled. Expected available in 1 second."``.

A failed prediction's ``error`` is free text. Replicate and the models it hosts word a
content-policy refusal a few ways (``NSFW content detected…``, ``…flagged as sensitive…
(E005)``); :data:`REFUSAL` recognises them, and only them, as ``invalid_prompt``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

from mediastudio.engines.contract import ProviderError
from mediastudio.engines.providers.http import Pause, ProviderHttp, no_pause
from mediastudio.engines.providers.jobs import RemoteJob, RemoteState
from mediastudio.settings import ProviderSettings

NAME = "replicate"
PUBLIC_URL = "https://api.replicate.com"
API_KEY_SETTING = "MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY"

STATES: dict[str, RemoteState] = {
    "starting": "queued",
    "processing": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
    "aborted": "canceled",
}
REFUSAL = re.compile(
    r"nsfw|flagged as sensitive|\(E005\)|content polic|safety (?:filter|checker|system)"
    r"|content moderation|moderation (?:flag|block)|inappropriate content",
    re.IGNORECASE,
)
# The official client's progress pattern: "  42%|████      | 21/50 [..]".
PROGRESS = re.compile(r"^\s*(?P<percentage>\d+)%\s*\|.+?\|\s*(?P<current>\d+)/(?P<total>\d+)")


class Replicate:
    """The :class:`~mediastudio.engines.providers.jobs.RemoteJobs` of Replicate (and its
    :class:`~mediastudio.engines.providers.media.Uploader`)."""

    name = NAME

    def __init__(
        self, settings: ProviderSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.wait_s = settings.wait_s
        self.http = ProviderHttp.configured(
            NAME,
            settings,
            public_url=PUBLIC_URL,
            setting=API_KEY_SETTING,
            transport=transport,
        )

    async def submit(self, target: str, payload: dict[str, Any], pause: Pause) -> RemoteJob:
        owner, _, model = target.partition("/")
        options: dict[str, Any] = {}
        if self.wait_s:
            # The official client's rule: read for as long as the server may hold the request.
            options["headers"] = {"Prefer": f"wait={self.wait_s}"}
            options["timeout"] = httpx.Timeout(5.0, read=self.wait_s + 5.0)
        response = await self.http.send(
            "POST",
            f"/v1/models/{owner}/{model}/predictions",
            json={"input": payload},
            pause=pause,
            retry=False,  # a 5xx may hide a prediction that exists: never create twice
            **options,
        )
        return prediction(self.http.check(response).json())

    async def status(self, target: str, job_id: str, pause: Pause) -> RemoteJob:
        response = await self.http.send("GET", f"/v1/predictions/{job_id}", pause=pause, retry=True)
        if response.status_code == 404:
            raise ProviderError(f"Replicate no longer knows prediction {job_id}.")
        return prediction(self.http.check(response).json())

    async def cancel(self, target: str, job_id: str) -> None:
        response = await self.http.send(
            "POST", f"/v1/predictions/{job_id}/cancel", pause=no_pause, retry=True
        )
        self.http.check(response)

    async def upload(self, filename: str, data: bytes, media_type: str, pause: Pause) -> str:
        response = await self.http.send(
            "POST",
            "/v1/files",
            files={"content": (filename, data, media_type)},
            pause=pause,
            retry=False,
        )
        body = self.http.check(response).json()
        url = (body.get("urls") or {}).get("get") if isinstance(body, dict) else None
        if not isinstance(url, str):
            raise ProviderError("Replicate stored the input file but gave no URL for it.")
        return url

    async def aclose(self) -> None:
        await self.http.aclose()


def prediction(body: Any) -> RemoteJob:
    """A prediction object as a :class:`RemoteJob`; anything unexpected is a provider error."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise ProviderError("Replicate answered with something that is not a prediction.")
    status = body.get("status")
    state = STATES.get(status) if isinstance(status, str) else None
    if state is None:
        raise ProviderError(f"Replicate reported an unknown prediction status {status!r}.")
    error = body.get("error")
    message = str(error) if error not in (None, "") else None
    return RemoteJob(
        id=body["id"],
        state=state,
        outputs=tuple(_urls(body.get("output"))) if state == "succeeded" else (),
        error=message,
        refused=state == "failed" and message is not None and bool(REFUSAL.search(message)),
        progress=_progress(body.get("logs")),
    )


def _urls(output: Any) -> Iterator[str]:
    """File URLs in a model's output, in order: a string, a list, or an object of them."""
    if isinstance(output, str):
        if output.startswith(("https://", "http://", "data:")):
            yield output
    elif isinstance(output, list):
        for item in output:
            yield from _urls(item)
    elif isinstance(output, dict):
        for item in output.values():
            yield from _urls(item)


def _progress(logs: Any) -> float | None:
    if not isinstance(logs, str) or not logs:
        return None
    for line in reversed(logs.splitlines()):
        found = PROGRESS.match(line)
        if found:
            return min(1.0, int(found["percentage"]) / 100)
    return None
