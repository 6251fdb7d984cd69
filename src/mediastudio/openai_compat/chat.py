"""``POST /v1/chat/completions`` in OpenAI's shapes, on the chat service's rules.

- **In**: OpenAI's messages (roles ``system``, ``developer`` (sent as ``system``: compatible
  servers do not know it, and OpenAI reads it so for the models offered here), ``user``,
  ``assistant``; ``content`` a string or a list of ``{"type": "text", "text"}`` parts, joined
  with a newline). Anything this server cannot honour (image or audio parts, tool messages and
  tool calls, tools, ``n`` > 1, sampling knobs it does not pass on) is a 400 naming its
  ``param``, never silently dropped; parameters that change nothing of the answer (``user``,
  ``metadata``, ``store``…) are accepted and ignored; unknown ones are refused, as OpenAI does.
- **Out**: a ``chat.completion``, or its ``chat.completion.chunk`` events (:class:`Chunks`):
  ``data: {json}\\n\\n`` lines, the role first, the text as it comes, the ``finish_reason`` in a
  chunk with an empty delta, the usage chunk (empty ``choices``) when
  ``stream_options.include_usage``, then ``data: [DONE]``. An error once the stream has begun
  is one ``data: {"error": {…}}`` event (OpenAI's shape, which its clients raise as
  ``APIError``), and the stream ends without ``[DONE]``.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mediastudio.chat.catalog import DEFAULT_MAX_TOKENS
from mediastudio.chat.schemas import MAX_CONTENT
from mediastudio.chat.service import ChatResult, ChatStarted
from mediastudio.engines.providers.openai.chat import ChatMessage, ChatOptions
from mediastudio.kit.errors import InvalidRequest, MediaStudioError
from mediastudio.openai_compat.errors import error_type
from mediastudio.openai_compat.schemas import ChatCompletionMessage, ChatCompletionRequest
from mediastudio.platform import Platform

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
PART_JOIN = "\n"
OPENAI_PREFIX = "openai/"
# Parameters accepted when they ask for what happens anyway.
HARMLESS: dict[str, Any] = {
    "response_format": {"type": "text"},
    "modalities": ["text"],
    "logprobs": False,
    "n": 1,
}
IGNORED = frozenset(
    {
        "user",
        "safety_identifier",
        "metadata",
        "store",
        "parallel_tool_calls",
        "prompt_cache_key",
        "service_tier",
    }
)
DONE = "data: [DONE]\n\n"


def refusal(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': {message}", details={"fields": [{"field": param, "message": message}]}
    )


def check_parameters(body: ChatCompletionRequest) -> None:
    """Refuse each OpenAI parameter set to something this server would not honour."""
    known = {"model", "messages", "stream", "stream_options", "max_tokens", "temperature"}
    for name in sorted(body.model_fields_set - known - IGNORED - {"max_completion_tokens"}):
        value = getattr(body, name)
        if value is None or HARMLESS.get(name, object()) == value:
            continue
        if name == "n":
            raise refusal("n", "only one choice (n=1) is offered here; ask again for another.")
        raise refusal(name, "this parameter is not supported by MediaStudio's chat.")
    if body.max_tokens is not None and body.max_completion_tokens is not None:
        raise refusal("max_tokens", "send max_tokens or max_completion_tokens, not both.")
    if body.stream_options is not None and not body.stream:
        raise refusal("stream_options", "only allowed when 'stream' is true.")


def messages_of(body: ChatCompletionRequest) -> list[ChatMessage]:
    return [_message(index, item) for index, item in enumerate(body.messages)]


def _message(index: int, item: ChatCompletionMessage) -> ChatMessage:
    role = ROLES.get(item.role)
    if role is None:
        raise refusal(
            f"messages[{index}].role",
            f"{item.role!r} is not offered (no tools here); roles: system, developer, user, "
            "assistant.",
        )
    extra = item.model_extra or {}
    for name in ("tool_calls", "function_call", "audio"):
        if extra.get(name):
            raise refusal(f"messages[{index}].{name}", "tool calls and audio are not offered.")
    text = _text(index, item)
    if len(text) > MAX_CONTENT:
        raise refusal(f"messages[{index}].content", f"at most {MAX_CONTENT} characters.")
    return ChatMessage(role, text)


def _text(index: int, item: ChatCompletionMessage) -> str:
    content = item.content
    if isinstance(content, str):
        return content
    if not content:
        raise refusal(f"messages[{index}].content", "a message needs text content.")
    texts = []
    for position, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise refusal(
                f"messages[{index}].content[{position}]",
                f"{part.type!r} parts are not accepted: chat here takes text only.",
            )
        texts.append(part.text)
    return PART_JOIN.join(texts)


def options_of(body: ChatCompletionRequest) -> ChatOptions:
    bound = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
    return ChatOptions(max_tokens=bound, temperature=body.temperature)


def chat_model(platform: Platform, name: str) -> str:
    """A chat model id for a name a client sends: the id itself, or OpenAI's bare name
    (``gpt-5.4-mini``) for the ``openai/…`` model of that name."""
    models = platform.chat.models
    if models.get(name) is None and models.get(OPENAI_PREFIX + name) is not None:
        return OPENAI_PREFIX + name
    return name


def completion(result: ChatResult) -> dict[str, Any]:
    """The ``chat.completion`` of a reply (the stored answer of an Idempotency-Key too)."""
    usage = result.usage
    return {
        "id": result.message_id,
        "object": "chat.completion",
        "created": timestamp(result.created_at),
        "model": result.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.reply, "refusal": None},
                "logprobs": None,
                "finish_reason": result.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
        "system_fingerprint": None,
    }


def timestamp(moment: datetime) -> int:
    return calendar.timegm(moment.utctimetuple())


class Chunks:
    """The ``chat.completion.chunk`` events of one reply, as Server-Sent Events lines."""

    def __init__(self, reply_id: str, created: int, model: str, include_usage: bool) -> None:
        self.head = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        self.include_usage = include_usage

    @classmethod
    def of(cls, started: ChatStarted, include_usage: bool) -> Chunks:
        return cls(started.message_id, timestamp(started.created_at), started.model, include_usage)

    def start(self) -> str:
        return self._choice({"role": "assistant", "content": "", "refusal": None}, None)

    def text(self, piece: str) -> str:
        return self._choice({"content": piece}, None)

    def end(self, finish_reason: str, usage: dict[str, Any]) -> Iterator[str]:
        yield self._choice({}, finish_reason)
        if self.include_usage:
            yield event({**self.head, "choices": [], "usage": usage})
        yield DONE

    def _choice(self, delta: dict[str, Any], finish_reason: str | None) -> str:
        chunk: dict[str, Any] = {
            **self.head,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self.include_usage:  # as OpenAI: null on every chunk but the usage one
            chunk["usage"] = None
        return event(chunk)


def replayed(body: dict[str, Any], include_usage: bool) -> Iterator[str]:
    """A stored ``chat.completion`` streamed again: the role, its text in one piece, the end."""
    chunks = Chunks(str(body["id"]), int(body["created"]), str(body["model"]), include_usage)
    [choice] = body["choices"]
    yield chunks.start()
    yield chunks.text(str(choice["message"]["content"]))
    yield from chunks.end(str(choice["finish_reason"]), dict(body["usage"]))


def error_event(exc: MediaStudioError) -> str:
    """An error once the stream has begun, as OpenAI streams one (its clients raise it)."""
    fields = (exc.details or {}).get("fields")
    param = fields[0].get("field") if isinstance(fields, list) and fields else None
    return event(
        {
            "error": {
                "message": exc.message,
                "type": error_type(exc.status),
                "param": param,
                "code": exc.code,
            }
        }
    )


def event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"
