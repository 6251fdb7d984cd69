"""fal's queue API, as its official Python client (``fal-client``) speaks it.

- ``POST {base}/{app_id}`` with the model's input as the JSON body queues a request (the app id
  may carry a path: ``fal-ai/flux/schnell``) and answers ``{"request_id", "status_url",
  "response_url", "cancel_url", "queue_position"}``.
- ``GET …/requests/{id}/status?logs=1``: ``IN_QUEUE`` (``queue_position``), ``IN_PROGRESS``
  (``logs``: ``[{"message", "level", "timestamp"}]``) or ``COMPLETED`` (``logs``, ``metrics``).
  A completed request may have failed: only its result tells.
- ``GET …/requests/{id}`` (the response URL): the model's output (``{"images": [{"url",
  "width", "height", "content_type"}], "has_nsfw_concepts": […]}``, ``{"video": {"url"…}}``…),
  or the error the request ended with. A *model error* is a list of typed errors, 422 for
  invalid input or a content-policy refusal (``{"detail": [{"loc", "msg", "type":
  "content_policy_violation"}]}``); a *request error* is ``{"detail": "…", "error_type":
  "runner_scheduling_failure"}`` with a 5xx (or 499 ``client_cancelled``), ``error_type`` also
  in the ``X-Fal-Error-Type`` header.
- ``PUT …/requests/{id}/cancel``: ``202 {"status": "CANCELLATION_REQUESTED"}``, or ``400
  {"status": "ALREADY_COMPLETED"}``, ``404 {"status": "NOT_FOUND"}`` (nothing left to stop).
- Auth: ``Authorization: Key <key>``.

The request URLs name the app without its path (``fal-ai/flux/requests/{id}``); that is how
the client builds them for a request it did not submit (``from_request_id``), and how a
restarted job reaches the request it remembered. For a request it submitted, the client uses
the URLs the submit answered; so do we, when they lie under the configured base URL (the key
is never sent anywhere else).
"""

from __future__ import annotations

import base64
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from mediastudio.engines.contract import InvalidPrompt, ProviderError
from mediastudio.engines.providers.http import (
    Pause,
    ProviderHttp,
    no_pause,
    problem_detail,
)
from mediastudio.engines.providers.jobs import RemoteJob, RemoteState
from mediastudio.settings import ProviderSettings

NAME = "fal"
PUBLIC_URL = "https://queue.fal.run"
API_KEY_SETTING = "MEDIASTUDIO_PROVIDERS__FAL__API_KEY"
# App ids under these namespaces have three parts before their path (namespace/owner/alias).
NAMESPACES = ("workflows", "comfy")
STATES: dict[str, RemoteState] = {"IN_QUEUE": "queued", "IN_PROGRESS": "running"}
REFUSAL_TYPE = "content_policy_violation"
CANCELLED_TYPE = "client_cancelled"
# Cancel answers that mean there is nothing left to stop.
NOTHING_TO_CANCEL = {"ALREADY_COMPLETED", "NOT_FOUND"}
# A tqdm bar in a log message: "  42%|████      | 21/50 [..]".
PROGRESS = re.compile(r"^\s*(?P<percentage>\d{1,3})%\|")
_KNOWN_URLS = 4096  # request URLs kept from submits; older ones are rebuilt when needed


@dataclass(frozen=True)
class RequestUrls:
    status: str
    response: str
    cancel: str


class Fal:
    """The :class:`~mediastudio.engines.providers.jobs.RemoteJobs` of fal (and its
    :class:`~mediastudio.engines.providers.media.Uploader`)."""

    name = NAME

    def __init__(
        self, settings: ProviderSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.http = ProviderHttp.configured(
            NAME,
            settings,
            public_url=PUBLIC_URL,
            setting=API_KEY_SETTING,
            auth_scheme="Key",
            transport=transport,
        )
        self._urls: OrderedDict[str, RequestUrls] = OrderedDict()

    async def submit(self, target: str, payload: dict[str, Any], pause: Pause) -> RemoteJob:
        response = await self.http.send(
            "POST",
            f"/{target}",
            json=payload,
            pause=pause,
            retry=False,  # a 5xx may hide a queued request: never submit twice
        )
        body = self._checked(response).json()
        request_id = body.get("request_id") if isinstance(body, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise ProviderError("fal answered the submit without a request id.")
        self._keep(request_id, self._answered_urls(body) or self._built_urls(target, request_id))
        return RemoteJob(id=request_id, state="queued")

    async def status(self, target: str, job_id: str, pause: Pause) -> RemoteJob:
        urls = self._urls.get(job_id) or self._built_urls(target, job_id)
        response = await self.http.send(
            "GET", urls.status, params={"logs": "1"}, pause=pause, retry=True
        )
        if response.status_code == 404:
            raise ProviderError(f"fal no longer knows request {job_id}.")
        body = self.http.check(response).json()
        status = body.get("status") if isinstance(body, dict) else None
        state = STATES.get(status) if isinstance(status, str) else None
        if state is not None:
            return RemoteJob(id=job_id, state=state, progress=_progress(body.get("logs")))
        if status != "COMPLETED":
            raise ProviderError(f"fal reported an unknown request status {status!r}.")
        job = await self._result(job_id, urls, pause)
        self._urls.pop(job_id, None)
        return job

    async def cancel(self, target: str, job_id: str) -> None:
        urls = self._urls.pop(job_id, None) or self._built_urls(target, job_id)
        response = await self.http.send("PUT", urls.cancel, pause=no_pause, retry=True)
        if response.status_code in (400, 404) and _queue_status(response) in NOTHING_TO_CANCEL:
            return
        self.http.check(response)

    async def upload(self, filename: str, data: bytes, media_type: str, pause: Pause) -> str:
        """fal's models read ``data:`` URIs for file inputs, so a large file goes inline too:
        fal's own file storage lives on another host (rest.fal.ai), never sent the key."""
        return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"

    async def aclose(self) -> None:
        await self.http.aclose()

    # What a completed request ended with --------------------------------------------------------

    async def _result(self, job_id: str, urls: RequestUrls, pause: Pause) -> RemoteJob:
        response = await self.http.send(
            "GET", urls.response, pause=pause, retry=True, settled=_is_request_error
        )
        status = response.status_code
        if status < 400:
            return completed(job_id, _json(response))
        kind = error_type(response)
        detail = problem_detail(response)
        if kind == REFUSAL_TYPE:
            return RemoteJob(id=job_id, state="failed", error=detail, refused=True)
        if kind == CANCELLED_TYPE or status == 499:
            return RemoteJob(id=job_id, state="canceled", error=detail)
        if status == 404:
            raise ProviderError(f"fal no longer has the result of request {job_id}.")
        if status in (401, 403, 429):
            self.http.check(response)  # the operator's key, or throttled past the wait budget
        if status < 500:
            return RemoteJob(id=job_id, state="failed", error=detail, invalid=True)
        return RemoteJob(id=job_id, state="failed", error=f"{detail} ({kind or status})")

    def _checked(self, response: httpx.Response) -> httpx.Response:
        """A submit's answer; a refusal under the content policy is ``invalid_prompt``."""
        if 400 <= response.status_code < 500 and error_type(response) == REFUSAL_TYPE:
            raise InvalidPrompt(
                f"fal refused the request under its content policy: {problem_detail(response)}"
            )
        return self.http.check(response)

    # Request URLs ---------------------------------------------------------------------------------

    def _keep(self, request_id: str, urls: RequestUrls) -> None:
        self._urls[request_id] = urls
        while len(self._urls) > _KNOWN_URLS:
            self._urls.popitem(last=False)

    def _answered_urls(self, body: dict[str, Any]) -> RequestUrls | None:
        """The submit's own URLs, if all three lie under the configured base URL."""
        found = [body.get(name) for name in ("status_url", "response_url", "cancel_url")]
        prefix = self.http.base_url + "/"
        if not all(isinstance(url, str) and url.startswith(prefix) for url in found):
            return None
        status, response, cancel = (str(url) for url in found)
        return RequestUrls(status=status, response=response, cancel=cancel)

    def _built_urls(self, target: str, request_id: str) -> RequestUrls:
        base = f"/{app_root(target)}/requests/{request_id}"
        return RequestUrls(status=f"{base}/status", response=base, cancel=f"{base}/cancel")


def app_root(target: str) -> str:
    """The app an endpoint id belongs to, without its path: ``fal-ai/flux/schnell`` →
    ``fal-ai/flux`` (``workflows/owner/name/…`` keeps its namespace), as the client's
    ``AppId.from_endpoint_id`` reads it."""
    parts = target.split("/")
    keep = 3 if parts[0] in NAMESPACES else 2
    return "/".join(parts[:keep])


def completed(job_id: str, body: Any) -> RemoteJob:
    """A successful result: its files in order. fal's safety checker answers a flagged image
    with a black one and ``has_nsfw_concepts: [true]``: that is a refusal, not an output."""
    if not isinstance(body, dict):
        raise ProviderError("fal answered a result that is not an object.")
    flagged = body.get("has_nsfw_concepts")
    if isinstance(flagged, list) and any(flag is True for flag in flagged):
        message = "fal's safety checker flagged the output as not safe for work"
        return RemoteJob(id=job_id, state="failed", error=message, refused=True)
    return RemoteJob(id=job_id, state="succeeded", outputs=tuple(file_urls(body)))


def file_urls(value: Any) -> Iterator[str]:
    """The ``url`` of every file object in a result, in order (``images: [{url…}]``,
    ``video: {url…}``, ``audio_file: {url…}``…)."""
    if isinstance(value, dict):
        url = value.get("url")
        if isinstance(url, str) and url.startswith(("https://", "http://", "data:")):
            yield url
            return
        for item in value.values():
            yield from file_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from file_urls(item)


def error_type(response: httpx.Response) -> str | None:
    """The error's machine-readable type: a request error's ``error_type`` (body or
    ``X-Fal-Error-Type``), or the first typed model error that refuses content, else the first."""
    body = _json(response, strict=False)
    if isinstance(body, dict):
        if isinstance(body.get("error_type"), str):
            return str(body["error_type"])
        detail = body.get("detail")
        if isinstance(detail, list):
            types: list[str] = [
                str(item["type"])
                for item in detail
                if isinstance(item, dict) and isinstance(item.get("type"), str)
            ]
            if REFUSAL_TYPE in types:
                return REFUSAL_TYPE
            if types:
                return types[0]
    header = response.headers.get("x-fal-error-type")
    return header if isinstance(header, str) else None


def _is_request_error(response: httpx.Response) -> bool:
    """A 5xx result that fal itself answered (it carries its error type): the request's
    outcome, not an ingress failure worth asking again (the client's ``_is_ingress_error``)."""
    return "x-fal-request-id" in response.headers or error_type(response) is not None


def _queue_status(response: httpx.Response) -> str | None:
    body = _json(response, strict=False)
    status = body.get("status") if isinstance(body, dict) else None
    return status if isinstance(status, str) else None


def _json(response: httpx.Response, *, strict: bool = True) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        if strict:
            raise ProviderError("fal answered with something that is not JSON.") from exc
        return None


def _progress(logs: Any) -> float | None:
    if not isinstance(logs, list):
        return None
    for entry in reversed(logs):
        message = entry.get("message") if isinstance(entry, dict) else None
        found = PROGRESS.match(message) if isinstance(message, str) else None
        if found:
            return min(1.0, int(found["percentage"]) / 100)
    return None
