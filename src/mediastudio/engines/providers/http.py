"""The HTTP layer every provider adapter shares: one pooled ``httpx.AsyncClient`` per provider,
its API key as a bearer token, timeouts, and what a failed request means.

- A 429 waits for the provider's ``Retry-After`` (seconds or an HTTP date; else a number in the
  body's ``detail``, as Replicate words it; else an exponential backoff) and tries again, up to
  ``max_retry_wait_s`` in all: a throttled request was not carried out, so retrying it is safe
  for any method.
- Timeouts, connection errors and 5xx answers are :class:`ProviderError` (the job fails with
  ``provider_error``, refunded; a route list may fail over on it). Reads (``retry=True``) are
  tried again a few times first; a create is retried only when it surely never reached the
  provider (the connection was not made), never after a 5xx, which may hide a prediction that
  exists and costs money.
- 401/403 are the operator's key, not the user's request: :class:`ProviderError` naming the
  setting. Other 4xx are the request's fault: :class:`ProviderRejected` (``invalid_input``) with
  the provider's own explanation.

The API key lives in the client's default headers only (``Authorization: <scheme> <key>``:
``Bearer`` for Replicate, ``Key`` for fal); it is never part of a message, and httpx does not
log headers.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from mediastudio import __version__
from mediastudio.engines.contract import InvalidInput, ProviderError
from mediastudio.settings import ProviderSettings

logger = logging.getLogger("mediastudio.providers")

Pause = Callable[[float], Awaitable[None]]

# Seconds in a 429's explanation when there is no Retry-After header: Replicate answers
# {"detail": "Request was throttled. Expected available in 1 second."}.
_SECONDS_IN_TEXT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", re.IGNORECASE)
_MAX_DETAIL = 500


# How providers write their own names (fal's is lower case), for messages.
_DISPLAY_NAMES = {
    "replicate": "Replicate",
    "fal": "fal",
    "openai": "OpenAI",
    "elevenlabs": "ElevenLabs",
}


def display_name(provider: str) -> str:
    return _DISPLAY_NAMES.get(provider, provider.capitalize())


async def no_pause(seconds: float) -> None:
    """For a cancel, which must not wait on the job's own cancellation (it is why we cancel)."""
    return None


class ProviderRejected(InvalidInput):
    """The provider refused the request as invalid (4xx): the user's input is the problem."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 3  # tries of one request that fails (timeouts, connection errors, 5xx)
    backoff_s: float = 0.5  # the first pause after a failure; it doubles
    max_wait_s: float = 60.0  # Retry-After waits of one request, in all, before giving up
    max_throttled: int = 20  # 429 answers one request accepts before giving up


class ProviderHttp:
    def __init__(
        self,
        provider: str,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout_s: float,
        retry: Retry,
        setting: str,
        auth_scheme: str = "Bearer",
        auth_header: str = "Authorization",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.auth_scheme = auth_scheme
        # ElevenLabs takes the bare key in its own header (``xi-api-key``), with no scheme.
        self.auth_header = auth_header
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.setting = setting  # the variable that holds the key, for error messages
        self._api_key = api_key
        # As the official clients do: a short connect timeout, a longer one for each read.
        self._timeout = httpx.Timeout(timeout_s, connect=5.0, pool=10.0)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def configured(
        cls,
        provider: str,
        settings: ProviderSettings,
        *,
        public_url: str,
        setting: str,
        auth_scheme: str = "Bearer",
        auth_header: str = "Authorization",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> ProviderHttp:
        """The HTTP layer of a provider from its settings (its public URL unless ``base_url``
        says otherwise); a provider without a key has no adapter."""
        if settings.api_key is None:
            raise ValueError(f"{display_name(provider)} needs an API key")
        return cls(
            provider,
            settings.base_url or public_url,
            settings.api_key,
            timeout_s=settings.timeout_s,
            retry=Retry(max_wait_s=settings.max_retry_wait_s),
            setting=setting,
            auth_scheme=auth_scheme,
            auth_header=auth_header,
            transport=transport,
        )

    def client(self) -> httpx.AsyncClient:
        """The shared client, made on first use (inside the event loop that runs the jobs)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers={
                    self.auth_header: self._credential(),
                    "User-Agent": f"mediastudio/{__version__}",
                },
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                transport=self._transport,
            )
        return self._client

    def _credential(self) -> str:
        key = self._api_key.get_secret_value()
        return f"{self.auth_scheme} {key}" if self.auth_header == "Authorization" else key

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        pause: Pause,
        retry: bool,
        settled: Callable[[httpx.Response], bool] | None = None,
        hopeless: Callable[[httpx.Response], bool] | None = None,
        stream: bool = False,
        **options: Any,
    ) -> httpx.Response:
        """Send one request, waiting out 429s and (``retry``) transient failures; returns the
        final answer, whatever its status. ``pause`` sleeps (and may raise when the job is
        cancelled meanwhile). ``settled`` tells a 5xx that is an answer, not a failure to get
        one (fal's stored result of a request that failed): it is returned at once.
        ``hopeless`` tells a 429 that no wait cures (OpenAI's ``insufficient_quota``: the
        account is out of credit): it is returned at once too. With ``stream`` a 2xx answer
        comes back with its body unread (the caller reads it, then closes it); any other has
        its body read, as without."""
        failures = throttled = 0
        waited = 0.0
        while True:
            try:
                response = await self._request(method, path, stream, options)
            except httpx.TransportError as exc:
                never_sent = isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                )
                if (retry or never_sent) and failures + 1 < self.retry.attempts:
                    failures += 1
                    await pause(self._backoff(failures))
                    continue
                raise self._unreachable(exc) from exc
            if response.status_code == 429 and not (hopeless and hopeless(response)):
                delay = retry_after(response) or self._backoff(throttled + 1)
                throttled += 1
                if throttled > self.retry.max_throttled or waited + delay > self.retry.max_wait_s:
                    return response
                logger.info(
                    "%s throttled %s %s; retrying in %.1f s", self.provider, method, path, delay
                )
                waited += delay
                await pause(delay)
                continue
            transient = response.status_code >= 500 and not (settled and settled(response))
            if transient and retry and failures + 1 < self.retry.attempts:
                failures += 1
                await pause(self._backoff(failures))
                continue
            return response

    async def _request(
        self, method: str, path: str, stream: bool, options: dict[str, Any]
    ) -> httpx.Response:
        if not stream:
            return await self.client().request(method, path, **options)
        client = self.client()
        response = await client.send(client.build_request(method, path, **options), stream=True)
        if response.status_code >= 300:  # an error is read whole, so its detail can be shown
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    def check(self, response: httpx.Response) -> httpx.Response:
        """The response if it succeeded, else the error it stands for (see the module)."""
        status = response.status_code
        if status < 400:
            return response
        detail = problem_detail(response)
        name = display_name(self.provider)
        if status == 429:
            raise ProviderError(
                f"{name} kept rate limiting the request: {detail}",
                retry_after=retry_after(response),
            )
        if status in (401, 403):
            raise ProviderError(
                f"{name} refused this server's API key ({status}); the operator should check "
                f"{self.setting}."
            )
        if status >= 500:
            raise ProviderError(f"{name} failed ({status}): {detail}")
        raise ProviderRejected(f"{name} refused the request ({status}): {detail}")

    def _backoff(self, attempt: int) -> float:
        return float(self.retry.backoff_s * 2 ** (attempt - 1))

    def _unreachable(self, exc: httpx.TransportError) -> ProviderError:
        name = display_name(self.provider)
        if isinstance(exc, httpx.TimeoutException):
            return ProviderError(f"{name} did not answer in time ({type(exc).__name__}).")
        return ProviderError(f"Could not reach {name} ({type(exc).__name__}).")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the provider asks us to wait: ``retry-after-ms`` (OpenAI's, read first as its
    official client does), ``Retry-After`` (seconds or an HTTP date), else a number of seconds
    in the body's ``detail``."""
    millis = response.headers.get("retry-after-ms", "").strip()
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    header = response.headers.get("retry-after", "").strip()
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - time.time())
    found = _SECONDS_IN_TEXT.search(problem_detail(response))
    return float(found.group(1)) if found else None


def problem_detail(response: httpx.Response) -> str:
    """The explanation in an error answer: RFC 7807 ``detail`` (or ``title``), else the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        nested = body.get("error")
        if isinstance(nested, dict):  # OpenAI: {"error": {"message", "type", "param", "code"}}
            body = nested
        nested = body.get("detail")
        if isinstance(nested, dict):  # ElevenLabs: {"detail": {"status", "message"}}
            body = nested
        for name in ("detail", "title", "error", "message"):
            value = body.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()[:_MAX_DETAIL]
        listed = _listed_errors(body.get("detail"))
        if listed:
            return listed[:_MAX_DETAIL]
    text = response.text.strip()
    return text[:_MAX_DETAIL] if text else response.reason_phrase


def _listed_errors(detail: Any) -> str:
    """A list of typed errors (``[{"loc": ["body", "prompt"], "msg": …}]``, as FastAPI-based
    providers such as fal answer) as one line: ``prompt: msg; …``."""
    if not isinstance(detail, list):
        return ""
    parts = []
    for item in detail:
        if not isinstance(item, dict) or not isinstance(item.get("msg"), str):
            continue
        loc = [str(part) for part in item.get("loc") or [] if part != "body"]
        parts.append(f"{'.'.join(loc)}: {item['msg']}" if loc else item["msg"])
    return "; ".join(parts)
