"""The blocking client's other resources: ``client.files``, ``client.webhooks``,
``client.events``, ``client.chat``, ``client.account``, ``client.models``, ``client.voices`` and
``client.templates`` (docs/sdk.md). :mod:`.aio_resources` is their twin."""

from __future__ import annotations

import builtins
import io
import json
import re
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, overload

import httpx

from mediastudio.client import core
from mediastudio.client.errors import error_for
from mediastudio.client.types import (
    Account,
    ChatChunk,
    ChatCompletion,
    ChatReply,
    CustomVoice,
    Delivery,
    Event,
    File,
    LedgerEntry,
    Model,
    Template,
    VoiceList,
    Webhook,
)

if TYPE_CHECKING:
    from mediastudio.client.sync import Client, Generation

Upload = str | Path | bytes | IO[bytes]


def upload_part(
    source: Upload, filename: str | None, stack: ExitStack
) -> tuple[str, IO[bytes], str]:
    """``(filename, file object, type)`` for one multipart ``file`` part. A path is opened here
    and read in chunks as the request is sent; the server sniffs the type from the content."""
    if isinstance(source, str | Path):
        path = Path(source)
        return (filename or path.name, stack.enter_context(path.open("rb")), OCTETS)
    if isinstance(source, bytes | bytearray):
        return (filename or "upload", io.BytesIO(source), OCTETS)
    name = filename or Path(str(getattr(source, "name", "") or "upload")).name
    return (name, source, OCTETS)


OCTETS = "application/octet-stream"


def pages(
    send: Callable[[core.Call], Any], path: str, params: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Every item of a cursor-paged list (``has_more``, ``next_cursor`` → ``starting_after``)."""
    while True:
        page = send(core.get(path, params))
        yield from page["data"]
        if not page.get("has_more") or not page.get("next_cursor"):
            return
        params = {**params, "starting_after": page["next_cursor"]}


class Files:
    """Uploads (``file_…``), usable as any ``*_url`` input of this account's jobs."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(self, file: Upload, *, filename: str | None = None) -> File:
        """Upload a path, bytes or a binary file object (streamed, never read whole)."""
        with ExitStack() as stack:
            part = upload_part(file, filename, stack)
            return File.of(self._client._send(core.upload("/files", part)))

    def get(self, file_id: str) -> File:
        return File.of(self._client._send(core.get(f"/files/{file_id}")))

    def delete(self, file_id: str) -> None:
        self._client._send(core.send("DELETE", f"/files/{file_id}"))

    def list(self, *, limit: int = 20) -> Iterator[File]:
        """Every upload, newest first, fetching pages of ``limit`` as you go."""
        for item in pages(self._client._send, "/files", {"limit": limit}):
            yield File.of(item)


class Webhooks:
    """Webhook endpoints and their deliveries (the key needs the ``webhooks`` scope)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self, url: str, *, events: list[str] | None = None, description: str | None = None
    ) -> Webhook:
        """Register an endpoint; the answer's ``secret`` is shown this once."""
        body = {"url": url, "events": events, "description": description}
        return Webhook.of(self._client._send(core.send("POST", "/webhooks", given(body))))

    def list(self) -> builtins.list[Webhook]:
        return [Webhook.of(item) for item in self._client._send(core.get("/webhooks"))["data"]]

    def get(self, webhook_id: str) -> Webhook:
        return Webhook.of(self._client._send(core.get(f"/webhooks/{webhook_id}")))

    def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: builtins.list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Webhook:
        """Change what is given; ``enabled=True`` re-enables an endpoint that was disabled."""
        body = {"url": url, "events": events, "description": description, "enabled": enabled}
        call = core.send("PATCH", f"/webhooks/{webhook_id}", given(body))
        return Webhook.of(self._client._send(call))

    def delete(self, webhook_id: str) -> None:
        self._client._send(core.send("DELETE", f"/webhooks/{webhook_id}"))

    def rotate_secret(self, webhook_id: str) -> Webhook:
        """A new ``secret``; the old one keeps signing deliveries for 24 hours."""
        call = core.send("POST", f"/webhooks/{webhook_id}/rotate-secret")
        return Webhook.of(self._client._send(call))

    def test(self, webhook_id: str) -> Delivery:
        """Send a ``webhook.test`` event to the endpoint (the delivery, queued)."""
        call = core.send("POST", f"/webhooks/{webhook_id}/test")
        return Delivery.of(self._client._send(call))

    def deliveries(self, webhook_id: str, *, limit: int = 20) -> Iterator[Delivery]:
        """The endpoint's deliveries, newest first, each with every attempt."""
        path = f"/webhooks/{webhook_id}/deliveries"
        for item in pages(self._client._send, path, {"limit": limit}):
            yield Delivery.of(item)

    def redeliver(self, delivery_id: str) -> Delivery:
        """Send a delivery again now: the same event id and body."""
        call = core.send("POST", f"/webhook-deliveries/{delivery_id}/retry")
        return Delivery.of(self._client._send(call))

    def signing_secret(self) -> str:
        """The secret that signs deliveries to a generation's own ``webhook_url``."""
        return str(self._client._send(core.get("/account/webhook-secret"))["secret"])


def given(body: dict[str, Any]) -> dict[str, Any]:
    """The fields given (None: left as they are, or the server's default)."""
    return {name: value for name, value in body.items() if value is not None}


def event_path(generation_id: str | None) -> str:
    return "/events" if generation_id is None else f"/generations/{generation_id}/events"


class Events:
    """Live events over Server-Sent Events, reconnecting by themselves without losing or
    repeating one (docs/sdk.md, "Live events")."""

    def __init__(self, client: Client, generation: Callable[[dict[str, Any]], Generation]) -> None:
        self._client = client
        self._generation = generation

    def stream(
        self, generation_id: str | None = None, *, last_event_id: str | None = None
    ) -> Iterator[Event[Generation]]:
        """The events of one generation (ending after its final one), or with no id every
        generation of the account in the key's mode (never ending: ``break`` to stop).
        ``last_event_id`` resumes after an event of an earlier stream."""
        return self._follow(generation_id, last_event_id)

    def _follow(
        self, generation_id: str | None, last_event_id: str | None, deadline: float | None = None
    ) -> Generator[Event[Generation], None, None]:
        """``stream``, raising TimeoutError past ``deadline`` (``Generation.wait``)."""
        client = self._client
        state = core.Resumable(
            client._config,
            event_path(generation_id),
            last_event_id,
            ends=generation_id is not None,
            deadline=deadline,
        )
        while not state.finished:
            call = state.call()
            try:
                with client._http.stream(
                    "GET",
                    call.url(client._config),
                    headers=call.all_headers(client._config),
                    timeout=state.timeout(),
                ) as response:
                    if not response.is_success:
                        response.read()
                        time.sleep(state.refused(response))
                        continue
                    state.opened()
                    for line in response.iter_lines():
                        body = state.feed(line)
                        if body is not None:
                            yield self._event(body)
                            if state.finished:
                                return
                delay = state.broken(None)  # ended before its end: a proxy, a restart
            except httpx.TransportError as exc:
                delay = state.broken(exc)
            time.sleep(delay)

    def _event(self, body: dict[str, Any]) -> Event[Generation]:
        data = body.get("data") or {}
        whole = data.get("generation")
        return Event(
            id=str(body.get("id", "")),
            type=str(body.get("type", "")),
            generation_id=body.get("generation_id"),
            data=data,
            generation=self._generation(whole) if isinstance(whole, dict) else None,
            raw=body,
        )


Message = dict[str, Any]


def chat_body(model: str, messages: list[Message], stream: bool, options: Any) -> dict[str, Any]:
    return {"model": model, "messages": messages, **options, **({"stream": True} if stream else {})}


def chat_chunk(line: str) -> ChatChunk | Literal[False] | None:
    """A ``data:`` line of a streamed reply: its chunk, False at ``[DONE]``, None otherwise;
    an ``{"error": …}`` event (the reply failed after it began) raises the typed error."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return False
    body = json.loads(data)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        raise error_for(_chat_status(body["error"]), body, {})
    return ChatChunk.of(body)


# OpenAI's error ``type`` → the status the same refusal has as an answer (its typed error).
_CHAT_ERROR_STATUS = {
    "authentication_error": 401,
    "insufficient_quota": 402,
    "permission_error": 403,
    "rate_limit_error": 429,
    "invalid_request_error": 400,
}


def _chat_status(error: dict[str, Any]) -> int:
    return _CHAT_ERROR_STATUS.get(str(error.get("type")), 502)


class Chat:
    """Chat: the OpenAI-compatible ``create`` (``/v1/chat/completions``, optionally streamed)
    and the native ``send`` (``/api/v1/chat``, with stored conversations)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(
        self, model: str, messages: list[Message], *, stream: Literal[False] = False, **options: Any
    ) -> ChatCompletion: ...

    @overload
    def create(
        self, model: str, messages: list[Message], *, stream: Literal[True], **options: Any
    ) -> Iterator[ChatChunk]: ...

    def create(
        self, model: str, messages: list[Message], *, stream: bool = False, **options: Any
    ) -> ChatCompletion | Iterator[ChatChunk]:
        """``messages`` as OpenAI's (``{"role": "user", "content": "…"}``); ``options`` are
        its fields (``max_tokens``, ``temperature``, ``stream_options``…). With ``stream=True``,
        an iterator of chunks as the model writes them."""
        call = core.create("/chat/completions", chat_body(model, messages, stream, options))
        call.prefix = core.OPENAI_PREFIX
        if stream:
            return self._stream(call)
        return ChatCompletion.of(self._client._send(call))

    def _stream(self, call: core.Call) -> Iterator[ChatChunk]:
        config = self._client._config
        # Not resumed after a break: the reply is being written, and a new request is a new
        # reply (and, live, a new price). The break is raised as APIConnectionError.
        try:
            with self._client._http.stream(
                "POST",
                call.url(config),
                json=call.json,
                headers=call.all_headers(config),
                timeout=httpx.Timeout(config.timeout),
            ) as response:
                if not response.is_success:
                    response.read()
                    core.parse(response)
                for line in response.iter_lines():
                    chunk = chat_chunk(line)
                    if chunk is False:
                        return
                    if chunk is not None:
                        yield chunk
        except httpx.TransportError as exc:
            raise core.connection_error(exc) from exc

    def send(
        self, message: str, *, conversation_id: str | None = None, **options: Any
    ) -> ChatReply:
        """One message of a conversation (``POST /api/v1/chat``): the reply, its usage and its
        price; pass the reply's ``conversation_id`` to go on."""
        body = given({"message": message, "conversation_id": conversation_id, **options})
        return ChatReply.of(self._client._send(core.create("/chat", body)))


class AccountResource:
    """The key's account: ``get()`` (plan, credits, today's usage) and ``ledger()``.

    API keys are managed from the dashboard (a browser session), not with a key: the SDK
    has no calls for them (docs/sdk.md)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self) -> Account:
        """``GET /account``: ``plan``, ``credit_balance``, ``credits_reserved``, ``limits``,
        ``usage``."""
        return Account.of(self._client._send(core.get("/account")))

    def ledger(self, *, limit: int = 20) -> Iterator[LedgerEntry]:
        """Every credit transaction, newest first, fetching pages of ``limit`` as you go (a
        sandbox key's ledger is empty: the sandbox spends no credits)."""
        for item in pages(self._client._send, "/account/ledger", {"limit": limit}):
            yield LedgerEntry.of(item)

    def __call__(self) -> dict[str, Any]:
        """The account as the API's JSON: ``client.account()``, the call of earlier versions
        (``get()`` is the typed one); kept so that their scripts and the CLI still run."""
        body: dict[str, Any] = self._client._send(core.get("/account"))
        return body


class Models:
    """The model catalog; ``available`` says whether this key can run a model here now."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, *, type: str | None = None) -> builtins.list[Model]:
        """Every model (one page: the catalog is small), or those of one ``type`` (image,
        video, speech, music, chat, …)."""
        body = self._client._send(core.get("/models", {"type": type}))
        return [Model.of(item) for item in body["data"]]

    def get(self, model_id: str) -> Model:
        """One model, with the JSON Schema of its ``input`` (``input_schema``)."""
        # Ids hold a slash (builtin/espeak): the route takes the rest of the path.
        return Model.of(self._client._send(core.get(f"/models/{model_id}")))


VoiceSampleSource = str | Path | bytes | IO[bytes] | File
# What the API takes as a sample as it is: an upload's id, an http(s) URL, a data: URI.
SAMPLE_REFERENCE = re.compile(r"^(file_[0-9a-z]{26}|https?://\S+|data:audio/\S+)$")


def voice_body(
    name: str, samples: builtins.list[str], consent: bool, options: dict[str, Any]
) -> dict[str, Any]:
    return given({"name": name, "samples": samples, "consent": consent, **options})


class Voices:
    """The speech models' voices, and the account's cloned voices (docs/api.md#voices)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, *, language: str | None = None, model: str | None = None) -> VoiceList:
        """Every voice (the account's cloned ones among them, ``custom=True``), iterable, with
        ``cloning``: whether ``create`` can clone for this key, and its price."""
        params = {"language": language, "model": model}
        return VoiceList.of(self._client._send(core.get("/voices", params)))

    def create(
        self,
        name: str,
        samples: Sequence[VoiceSampleSource],
        *,
        consent: bool,
        description: str | None = None,
        language: str | None = None,
        remove_background_noise: bool | None = None,
    ) -> CustomVoice:
        """Clone a voice from 1 to 10 audio samples of one speaker: upload ids (``file_…``) or
        ``File``s, http(s) URLs, ``data:audio/…`` URIs, or paths, bytes and binary files, which
        are uploaded first (``client.files.upload``). ``consent=True`` affirms that you own the
        voice or have its speaker's explicit consent; the server refuses anything else."""
        references: builtins.list[str] = []
        for sample in samples:
            if isinstance(sample, File):
                references.append(sample.id)
            elif isinstance(sample, str) and SAMPLE_REFERENCE.match(sample):
                references.append(sample)
            else:  # a local path, bytes or a file
                references.append(self._client.files.upload(sample).id)
        options = {
            "description": description,
            "language": language,
            "remove_background_noise": remove_background_noise,
        }
        # An Idempotency-Key: a retry after a lost answer gets the same voice, charged once.
        call = core.create("/voices", voice_body(name, references, consent, options))
        return CustomVoice.of(self._client._send(call))

    def get(self, voice_id: str) -> CustomVoice:
        return CustomVoice.of(self._client._send(core.get(f"/voices/{voice_id}")))

    def delete(self, voice_id: str) -> None:
        """Delete the voice at its provider, then its samples; a provider failure raises
        (the voice stays ``deleting``): delete again."""
        self._client._send(core.send("DELETE", f"/voices/{voice_id}"))


def render_body(data: dict[str, Any] | None, options: dict[str, Any]) -> dict[str, Any]:
    return {**(data or {}), **options}


class Templates:
    """Ready-made designs filled with your texts, images and colours (docs/templates.md)."""

    def __init__(self, client: Client, generation: Callable[[dict[str, Any]], Generation]) -> None:
        self._client = client
        self._generation = generation

    def list(
        self,
        *,
        type: str | None = None,
        category: str | None = None,
        tag: str | None = None,
        limit: int = 20,
    ) -> Iterator[Template]:
        """Every template, sorted by id, fetching pages of ``limit`` as you go."""
        params = {"type": type, "category": category, "tag": tag, "limit": limit}
        for item in pages(self._client._send, "/templates", params):
            yield Template.of(item)

    def get(self, template_id: str) -> Template:
        return Template.of(self._client._send(core.get(f"/templates/{template_id}")))

    def render(
        self, template_id: str, data: dict[str, Any] | None = None, **options: Any
    ) -> Generation:
        """Render a template: a generation like any other (``.wait()`` it). ``data`` and
        ``options`` are the route's fields: ``texts``, ``images`` (URL, data: URI or file id),
        ``colors``, ``output_format``, ``metadata``, ``external_id``, ``webhook_url``."""
        call = core.create(f"/templates/{template_id}/render", render_body(data, options))
        return self._generation(self._client._send(call))
