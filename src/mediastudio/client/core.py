"""What the sync and async clients share: configuration, requests, answers, retries, events.

Nothing here does I/O, so :mod:`.sync` and :mod:`.aio` differ only in how they wait.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from time import monotonic, time
from typing import Any

import httpx

from mediastudio.client.errors import APIConnectionError, MediaStudioError, error_for

DEFAULT_BASE_URL = "http://localhost:8000"
API_PREFIX = "/api/v1"
OPENAI_PREFIX = "/v1"  # the OpenAI-compatible surface (chat completions)
TERMINAL = frozenset({"completed", "partially_completed", "failed", "cancelled"})
FAILED = frozenset({"failed", "cancelled"})
# 503: overloaded, low on disk or a model that cannot run now; 502/504: a proxy in front of us.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A create retried while its first try is still being handled; the key makes the wait safe.
RETRY_CODES = frozenset({"idempotency_key_in_use"})
MAX_DELAY_S = 30.0


@dataclass(frozen=True)
class Config:
    api_key: str
    base_url: str
    timeout: float
    max_retries: int
    backoff_s: float


def configure(
    api_key: str | None,
    base_url: str | None,
    *,
    timeout: float,
    max_retries: int,
    backoff_s: float,
) -> Config:
    """Arguments win over ``MEDIASTUDIO_API_KEY`` / ``MEDIASTUDIO_URL``; a key is required."""
    key = api_key or os.environ.get("MEDIASTUDIO_API_KEY")
    if not key:
        raise MediaStudioError(
            "No API key: pass api_key=… or set MEDIASTUDIO_API_KEY (ms_live_… or ms_test_…)."
        )
    url = (base_url or os.environ.get("MEDIASTUDIO_URL") or DEFAULT_BASE_URL).rstrip("/")
    return Config(key, url, timeout, max_retries, backoff_s)


@dataclass
class Call:
    """One API call, built once and sent as many times as retries need (same idempotency key)."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Safe to send again after the request may have reached the server.
    idempotent: bool = True
    # multipart parts (httpx's ``files=``); a file object is read again from its start by each
    # retry, in chunks, so an upload is never held in memory.
    files: dict[str, Any] | None = None
    # ``/api/v1`` for the native API, ``/v1`` for the OpenAI-compatible one.
    prefix: str = API_PREFIX

    def url(self, config: Config) -> str:
        return config.base_url + self.prefix + self.path

    def all_headers(self, config: Config) -> dict[str, str]:
        # Per call, not on the httpx client: output URLs may point at another host.
        return {"Authorization": f"Bearer {config.api_key}", **self.headers}


def get(path: str, params: dict[str, Any] | None = None) -> Call:
    clean = {k: v for k, v in (params or {}).items() if v is not None}
    return Call("GET", path, params=clean or None)


def create(path: str, body: dict[str, Any]) -> Call:
    """A POST that makes a job: it carries a fresh ``Idempotency-Key``, so a retry of a create
    whose answer was lost gets the first job back instead of making a second one."""
    return Call("POST", path, json=body, headers={"Idempotency-Key": f"sdk-{uuid.uuid4().hex}"})


def tool_path(route: str) -> str:
    """``images/upscale`` or ``/api/v1/images/upscale`` → ``/images/upscale``."""
    path = "/" + route.strip("/")
    return path.removeprefix(API_PREFIX) or "/"


def action(path: str) -> Call:
    """A POST without a body and without a key (cancel): retried only if it never got out."""
    return Call("POST", path, idempotent=False)


def send(method: str, path: str, body: dict[str, Any] | None = None) -> Call:
    """A POST, PATCH or DELETE the API takes no ``Idempotency-Key`` for (webhooks, files): sent
    again only when it never got out, or was refused before being handled (429, 503)."""
    return Call(method, path, json=body, idempotent=False)


def upload(path: str, part: tuple[str, Any, str]) -> Call:
    """``multipart/form-data`` with one ``file`` part ``(filename, file object, type)``."""
    return Call("POST", path, files={"file": part}, idempotent=False)


def parse(response: httpx.Response) -> Any:
    """The answer's JSON, or the typed exception for an error answer."""
    body: Any
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    if response.is_success:
        return body
    raise error_for(response.status_code, body, dict(response.headers))


def backoff(config: Config, attempt: int) -> float:
    """Exponential with full jitter, so that many clients do not retry in step."""
    ceiling: float = min(MAX_DELAY_S, config.backoff_s * (2**attempt))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)


def retry_delay(config: Config, attempt: int, response: httpx.Response) -> float | None:
    """Seconds to wait before retrying this answer, or None to stop here."""
    if attempt >= config.max_retries:
        return None
    retryable = response.status_code in RETRY_STATUSES
    if response.status_code == 409:
        try:
            retryable = response.json()["error"]["code"] in RETRY_CODES
        except (ValueError, KeyError, TypeError):
            retryable = False
    if not retryable:
        return None
    header = response.headers.get("retry-after")
    if header is not None:
        return min(MAX_DELAY_S, max(0.0, _seconds(header)))
    return backoff(config, attempt)


def _seconds(retry_after: str) -> float:
    """``Retry-After`` is seconds or an HTTP date."""
    try:
        return float(retry_after)
    except ValueError:
        try:
            return parsedate_to_datetime(retry_after).timestamp() - time()
        except (TypeError, ValueError):
            return 0.0


def transport_retryable(
    config: Config, attempt: int, call: Call, exc: httpx.TransportError
) -> bool:
    """A connection that never opened is always safe to retry; one that broke after sending only
    for idempotent calls (GETs, and creates thanks to their key)."""
    if attempt >= config.max_retries:
        return False
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return never_sent or call.idempotent


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    return APIConnectionError(f"Could not reach the server: {exc!r}")


class SseDecoder:
    """Server-Sent Events, one line at a time; enough of the spec for the API's streams."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None
        # The ``id:`` of the last event completed (the spec's "last event ID"): where a
        # reconnection resumes. An event cut off before its blank line never sets it.
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None  # the server's ``retry:`` advice

    def feed(self, line: str) -> tuple[str, Any] | None:
        """The ``(event type, parsed data)`` this line completes, if any."""
        if line == "":
            event, data = self._event, self._data
            self._event, self._data = "message", []
            if self._id is not None:
                self.last_event_id = self._id
            return (event, json.loads("\n".join(data))) if data else None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


def event_update(event: str, data: Any) -> dict[str, Any] | None:
    """What an event of ``/generations/{id}/events`` changes: the whole generation when it
    carries one, else its status and progress. An ``error`` event raises its envelope."""
    if event == "error":
        raise stream_error(data)
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        return None
    payload: dict[str, Any] = data["data"]
    whole = payload.get("generation")
    if isinstance(whole, dict):
        return whole
    return {key: payload[key] for key in ("status", "progress") if key in payload}


# The codes a stream's ``event: error`` carries (its key was refused while it was open), with the
# status the same refusal has as an answer, so that it raises the same typed error.
_STREAM_ERROR_STATUS = {
    "missing_api_key": 401,
    "invalid_api_key": 401,
    "expired_api_key": 401,
    "invalid_token": 401,
    "insufficient_scope": 403,
    "ip_not_allowed": 403,
}


def stream_error(data: Any) -> MediaStudioError:
    """The typed error of an ``event: error`` (``{"type": "error", "error": {…}}``)."""
    envelope = data.get("error") if isinstance(data, dict) else None
    code = envelope.get("code") if isinstance(envelope, dict) else None
    return error_for(_STREAM_ERROR_STATUS.get(str(code), 500), data, {})


class Resumable:
    """One event stream followed across reconnections, without the I/O: what to ask for, what
    each line means, and how long to wait after a break.

    A reconnection sends ``Last-Event-ID`` (the id of the last whole event yielded), and the
    server replays what came after it (docs/events.md), so a break loses and repeats nothing.
    The first reconnection after a connection that delivered events is immediate; further
    ones, with no event in between, back off (at least the server's ``retry:``) and give up
    after ``max_retries``."""

    def __init__(
        self,
        config: Config,
        path: str,
        last_event_id: str | None,
        *,
        ends: bool,
        deadline: float | None = None,
    ) -> None:
        self._config = config
        self._path = path
        self._ends = ends  # a generation's stream ends after its final event
        # A ``time.monotonic()`` past which the stream raises TimeoutError (``wait(timeout=…)``):
        # the server's pings keep a quiet connection reading, so the read timeout cannot.
        self._deadline = deadline
        self.last_event_id = last_event_id
        self.finished = False
        self._failures = 0  # connections in a row that brought no event
        self._retry_ms = 0
        self._decoder = SseDecoder()

    def call(self) -> Call:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return Call("GET", self._path, headers=headers)

    def timeout(self) -> httpx.Timeout:
        # The server pings every 15 s: a silence as long as the client's timeout is a dead
        # connection (a reconnection follows), not a quiet account.
        self.check_deadline()
        if self._deadline is None:
            return httpx.Timeout(self._config.timeout)
        remaining = max(0.1, self._deadline - monotonic())
        return httpx.Timeout(self._config.timeout, read=min(self._config.timeout, remaining))

    def check_deadline(self) -> None:
        """Raises TimeoutError once the deadline has passed."""
        if self._deadline is not None and monotonic() >= self._deadline:
            raise TimeoutError("the event stream's deadline passed")

    def opened(self) -> None:
        """A new connection: a half-received event of the last one is dropped with its decoder."""
        self._decoder = SseDecoder()

    def feed(self, line: str) -> dict[str, Any] | None:
        """The event this line completes (its JSON body), if any; raises an ``event: error``,
        and TimeoutError past the deadline."""
        self.check_deadline()
        event = self._decoder.feed(line)
        self._retry_ms = self._decoder.retry_ms or self._retry_ms
        if event is None:
            return None
        name, data = event
        if name == "error":
            raise stream_error(data)
        self.last_event_id = self._decoder.last_event_id or self.last_event_id
        self._failures = 0
        if not isinstance(data, dict):
            return None
        if self._ends and name in TERMINAL:
            self.finished = True
        return data

    def refused(self, response: httpx.Response) -> float:
        """The wait before trying again after an error answer; raises it when not retryable."""
        delay = retry_delay(self._config, self._failures, response)
        if delay is None:
            parse(response)  # raises the typed error
            raise error_for(response.status_code, None, dict(response.headers))
        self._failures += 1
        return delay

    def broken(self, exc: Exception | None) -> float:
        """The wait before reconnecting after the connection broke (``exc``) or ended before
        the stream's end; raises :class:`APIConnectionError` once ``max_retries`` is spent, and
        TimeoutError past the deadline."""
        self.check_deadline()
        if self._failures >= self._config.max_retries:
            raise APIConnectionError(f"The event stream broke: {exc!r}")
        self._failures += 1
        if self._failures == 1:
            return 0.0
        return max(backoff(self._config, self._failures - 2), self._retry_ms / 1000)
