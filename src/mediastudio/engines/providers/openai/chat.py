"""OpenAI's chat completions (``POST /chat/completions``), as the official client sends them, for
OpenAI itself and for any server that speaks the same API (LocalAI, vLLM, Ollama…).

- The body is ``{"model", "messages": [{"role", "content"}], "stream": false}`` plus the bound
  on the answer's length and ``temperature`` when given. OpenAI takes the bound as
  ``max_completion_tokens`` (``max_tokens`` is deprecated there and refused by its reasoning
  models); compatible servers are sent ``max_tokens``, which every one of them reads.
- The answer is ``{"id", "object": "chat.completion", "created", "model", "choices": [{"index",
  "message": {"role", "content", "refusal"}, "finish_reason"}], "usage": {"prompt_tokens",
  "completion_tokens", "total_tokens"}}``.
- A refusal is an answer, not a failure: ``message.refusal`` set (OpenAI's models), a
  ``finish_reason`` of ``content_filter``, or a 400 coded ``content_policy_violation`` /
  ``content_filter``. Each is :class:`InvalidPrompt`.
- Errors and 429s are those of every OpenAI endpoint (``client.py``): a request is never
  repeated after a 5xx or a timeout (the tokens may have been spent), a 429 is waited out.
- :meth:`ChatClient.stream` sends ``"stream": true`` with ``stream_options.include_usage`` and
  reads the Server-Sent Events as they come: ``data: {chat.completion.chunk}`` lines whose
  ``choices[0].delta.content`` are the pieces of the reply (the first names the role, the last
  the ``finish_reason``), then a chunk with empty ``choices`` and the ``usage``, then ``data:
  [DONE]``. An error before the stream starts is answered as by :meth:`ChatClient.complete`;
  one inside it (a ``data: {"error": …}`` event, a cut connection, a stream that ends before
  its ``finish_reason``) is :class:`ProviderError`; a refusal (``delta.refusal``,
  ``finish_reason: content_filter``) is :class:`InvalidPrompt`.

This module knows no credits, conversations or HTTP of ours: it sends messages and reads a reply.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from mediastudio.engines.contract import InvalidPrompt, ProviderError
from mediastudio.engines.providers.http import Pause, ProviderHttp, Retry, problem_detail

REFUSAL_CODES = frozenset({"content_policy_violation", "content_filter", "moderation_blocked"})
NO_QUOTA_CODE = "insufficient_quota"


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system, user or assistant
    content: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ChatReply:
    content: str
    usage: Usage
    finish_reason: str
    model: str  # the model the server says answered (OpenAI names the dated snapshot)


@dataclass(frozen=True)
class ChatOptions:
    max_tokens: int | None = None
    temperature: float | None = None


class ChatClient:
    """One chat server: OpenAI, or a compatible one (``compatible=True``)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: SecretStr | None,
        *,
        timeout_s: float,
        max_retry_wait_s: float,
        setting: str,
        compatible: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.compatible = compatible
        self.http = ProviderHttp(
            name,
            base_url,
            # A local server may need no key; an empty bearer is what the official client
            # sends for one too (it insists on some api_key, and servers ignore it).
            api_key or SecretStr("none"),
            timeout_s=timeout_s,
            retry=Retry(max_wait_s=max_retry_wait_s),
            setting=setting,
            transport=transport,
        )

    async def complete(
        self, model: str, messages: list[ChatMessage], options: ChatOptions, pause: Pause
    ) -> ChatReply:
        body = self._body(model, messages, options, stream=False)
        response = await self.http.send(
            "POST", "/chat/completions", json=body, pause=pause, retry=False, hopeless=_no_quota
        )
        return _reply(self._check(response), model)

    async def stream(
        self, model: str, messages: list[ChatMessage], options: ChatOptions, pause: Pause
    ) -> AsyncGenerator[str | ChatReply, None]:
        """The reply as it is written: its pieces of text (maybe empty), then the whole
        :class:`ChatReply`. Closing the iterator early closes the connection, which stops the
        server's generation."""
        body = self._body(model, messages, options, stream=True)
        response = await self.http.send(
            "POST",
            "/chat/completions",
            json=body,
            pause=pause,
            retry=False,
            hopeless=_no_quota,
            stream=True,
        )
        self._check(response)
        try:
            async for item in _read_stream(response, model, self.name):
                yield item
        except httpx.TransportError as exc:  # cut or stalled mid-stream
            raise ProviderError(
                f"The stream from {self.name} broke off ({type(exc).__name__})."
            ) from exc
        finally:
            await response.aclose()

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code == 400 and _error_code(response) in REFUSAL_CODES:
            raise InvalidPrompt(f"The model refused the message: {problem_detail(response)}")
        if _no_quota(response):
            raise ProviderError(
                f"{self.name} refused the request: the operator's account is out of quota "
                f"({problem_detail(response)})."
            )
        return self.http.check(response)

    def _body(
        self, model: str, messages: list[ChatMessage], options: ChatOptions, *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": stream,
        }
        if stream:  # the usage comes in a last chunk only when asked for
            body["stream_options"] = {"include_usage": True}
        if options.max_tokens is not None:
            bound = "max_tokens" if self.compatible else "max_completion_tokens"
            body[bound] = options.max_tokens
        if options.temperature is not None:
            body["temperature"] = options.temperature
        return body

    async def aclose(self) -> None:
        await self.http.aclose()


def _reply(response: httpx.Response, model: str) -> ChatReply:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError("The chat server answered with something not JSON.") from exc
    choices = body.get("choices") if isinstance(body, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise ProviderError("The chat server answered without a message.")
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        raise InvalidPrompt(f"The model refused the message: {refusal}")
    finish = str(first.get("finish_reason") or "stop") if isinstance(first, dict) else "stop"
    if finish == "content_filter":
        raise InvalidPrompt("The model's content filter stopped the answer.")
    content = message.get("content")
    if not isinstance(content, str):
        raise ProviderError("The chat server answered a message without text.")
    return ChatReply(content, _usage(body.get("usage")), finish, str(body.get("model") or model))


async def _read_stream(
    response: httpx.Response, model: str, name: str
) -> AsyncIterator[str | ChatReply]:
    parts: list[str] = []
    finish: str | None = None
    usage, answered_by = Usage(), model
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank lines between events, comments, event names
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            break
        chunk = _chunk(data, name)
        answered_by = str(chunk.get("model") or answered_by)
        if isinstance(chunk.get("usage"), dict):
            usage = _usage(chunk["usage"])
        choices = chunk.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(first, dict):
            continue  # the usage chunk has no choices
        delta = first.get("delta") if isinstance(first.get("delta"), dict) else {}
        assert isinstance(delta, dict)
        if isinstance(delta.get("refusal"), str) and delta["refusal"]:
            raise InvalidPrompt(f"The model refused the message: {delta['refusal']}")
        text = delta.get("content")
        if isinstance(text, str):
            parts.append(text)
            yield text
        if first.get("finish_reason"):
            finish = str(first["finish_reason"])
    if finish is None:
        raise ProviderError(f"The stream from {name} ended before the reply did.")
    if finish == "content_filter":
        raise InvalidPrompt("The model's content filter stopped the answer.")
    yield ChatReply("".join(parts), usage, finish, answered_by)


def _chunk(data: str, name: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise ProviderError(f"{name} streamed something not JSON.") from exc
    if not isinstance(chunk, dict):
        raise ProviderError(f"{name} streamed something not a chunk.")
    error = chunk.get("error")
    if error is not None:  # OpenAI's way of failing once the stream has begun
        message = error.get("message") if isinstance(error, dict) else error
        raise ProviderError(f"{name} failed mid-stream: {message}")
    return chunk


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()  # some compatible servers leave usage out
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    return Usage(
        prompt if isinstance(prompt, int) else 0,
        completion if isinstance(completion, int) else 0,
    )


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _no_quota(response: httpx.Response) -> bool:
    return response.status_code == 429 and _error_code(response) == NO_QUOTA_CODE
