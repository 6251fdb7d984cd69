"""Files, webhooks, live events, waiting, chat, the account, models, voices and templates through
the SDK, against one real server (sandbox key), and the SDK's shapes and routes checked against
that server's /openapi.json."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
import wave
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from standardwebhooks.webhooks import Webhook as Verifier

from mediastudio import AsyncClient, Client
from mediastudio.client import (
    Account,
    AsyncGeneration,
    ChatChunk,
    CustomVoice,
    Delivery,
    DeliveryAttempt,
    Event,
    File,
    Generation,
    InvalidRequestError,
    LedgerEntry,
    Model,
    NotFoundError,
    Template,
    Voice,
    Webhook,
    types,
)
from mediastudio.openai_compat.schemas import ChatCompletionRequest
from tests.client.conftest import Served
from tests.client.cutting_proxy import cutting_proxy
from tests.fetch_servers import LoopbackServer
from tests.webhooks.receivers import Script

pytestmark = pytest.mark.e2e

SERVER_ENV = {
    # The webhook receiver is on loopback; deliveries are read for due work every 0.1 s.
    "MEDIASTUDIO_NET_ALLOW_HOSTS": "127.0.0.1",
    "MEDIASTUDIO_WEBHOOK_POLL_INTERVAL_S": "0.1",
}
LIVE_KEY = True  # the ledger of a paid render
SUBTITLES = b"1\n00:00:00,000 --> 00:00:01,500\nHello\n"
CHAT_MODEL = "gpt-5.4-mini"  # OpenAI's bare name; a sandbox key gets a placeholder reply


@pytest.fixture
def client(served: Served) -> Iterator[Client]:
    with Client(api_key=served.key, base_url=served.url) as sdk:
        yield sdk


def png(width: int = 32, height: int = 24) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


# Files ----------------------------------------------------------------------------------------


def test_files_upload_a_path_and_bytes_list_use_and_delete(client: Client, tmp_path: Path) -> None:
    content = png()
    path = tmp_path / "red.png"
    path.write_bytes(content)

    uploaded = client.files.upload(path)
    from_bytes = client.files.upload(SUBTITLES, filename="hello.srt")

    assert isinstance(uploaded, File) and uploaded.id.startswith("file_")
    assert uploaded.filename == "red.png" and uploaded.content_type == "image/png"
    assert uploaded.bytes == len(content)
    assert uploaded.sha256 == hashlib.sha256(content).hexdigest()
    assert httpx.get(uploaded.url).content == content  # the signed URL serves the bytes
    again = client.files.get(uploaded.id)  # its URL signed anew: it may expire later
    assert dataclasses.replace(again, url="") == dataclasses.replace(uploaded, url="")
    listed = [file.id for file in client.files.list(limit=1)]  # one per page: pages followed
    assert listed[:2] == [from_bytes.id, uploaded.id]
    # An upload is any job's *_url input.
    grey = client.generate.tool(
        "images/transform", image_url=uploaded.id, transformation="grayscale"
    ).wait(timeout=60)
    assert grey.status == "completed", grey.raw.get("error")

    client.files.delete(from_bytes.id)
    with pytest.raises(NotFoundError):
        client.files.get(from_bytes.id)
    assert [file.id for file in client.files.list()] == [uploaded.id]


# Webhooks -------------------------------------------------------------------------------------


def test_webhooks_manage_an_endpoint_test_it_and_redeliver(client: Client) -> None:
    script = Script(answers=[200])
    with LoopbackServer({"/hook": script.route()}) as receiver:
        created = client.webhooks.create(
            receiver.url("/hook"), events=["generation.completed"], description="sdk"
        )
        assert (
            isinstance(created, Webhook) and created.secret and created.secret.startswith("whsec_")
        )
        assert created.events == ["generation.completed"] and created.enabled
        assert created.id in [hook.id for hook in client.webhooks.list()]
        assert client.webhooks.get(created.id).secret is None  # shown once
        paused = client.webhooks.update(created.id, enabled=False, description="paused")
        assert not paused.enabled and paused.description == "paused"
        assert client.webhooks.update(created.id, enabled=True).enabled
        rotated = client.webhooks.rotate_secret(created.id)
        assert rotated.secret and rotated.secret != created.secret
        assert rotated.previous_secret_expires_at is not None

        sent = client.webhooks.test(created.id)
        assert isinstance(sent, Delivery) and sent.event == "webhook.test"

        def succeeded() -> Delivery | None:
            [delivery] = list(client.webhooks.deliveries(created.id))
            return delivery if delivery.status == "succeeded" else None

        delivery = until(succeeded, "the test delivery")
        assert delivery.id == sent.id and delivery.attempts == 1
        assert isinstance(delivery.attempt_log[0], DeliveryAttempt)
        assert delivery.attempt_log[0].status_code == 200
        again = client.webhooks.redeliver(delivery.id)
        assert again.id == delivery.id
        until(lambda: len(receiver.seen) == 2, "the redelivery")

    first, second = receiver.seen
    assert first.header("webhook-id") == second.header("webhook-id") == delivery.event_id
    verified = Verifier(str(rotated.secret)).verify(second.body, dict(second.headers))
    assert verified["event"] == "webhook.test"
    assert client.webhooks.signing_secret().startswith("whsec_")
    client.webhooks.delete(created.id)
    with pytest.raises(NotFoundError):
        client.webhooks.get(created.id)


# Live events ----------------------------------------------------------------------------------


def key_of(event: Event[Any]) -> tuple[str, str, int | None]:
    return (event.id, event.type, event.progress)


def follow(
    url: str,
    key: str,
    job: dict[str, str],
    *,
    one: bool = False,
    last_event_id: str | None = None,
) -> tuple[threading.Thread, list[Event[Generation]]]:
    """Read a stream in a thread until the job's final event: a stream that loses it fails the
    test at ``join`` rather than hanging it."""
    events: list[Event[Generation]] = []

    def read() -> None:
        with Client(api_key=key, base_url=url) as sdk:
            generation_id = job["id"] if one else None
            for event in sdk.events.stream(generation_id, last_event_id=last_event_id):
                events.append(event)
                if event.generation_id == job.get("id") and event.terminal:
                    return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, events


def test_event_streams_survive_broken_connections_losing_and_repeating_nothing(
    served: Served, client: Client
) -> None:
    """The reference is the account stream read directly; the same events read through a proxy
    that breaks every connection mid-event must be exactly those, in order."""
    job: dict[str, str] = {}
    direct, reference = follow(served.url, served.key, job)
    until(lambda: reference, "the account stream")
    cursor = reference[0].id  # `ready` (or a snapshot): where the proxied reads start
    job["id"] = client.generate.image(prompt="a slow one [slow:2]").id

    with cutting_proxy(served.url, cut_after=2) as proxy:
        readers = [
            follow(proxy.url, served.key, job, one=True, last_event_id=cursor),
            follow(proxy.url, served.key, job, last_event_id=cursor),
        ]
        for thread, _ in [*readers, (direct, reference)]:
            thread.join(60)
            assert not thread.is_alive(), "a stream never gave the job's final event"
    [(_, one), (_, account)] = readers

    expected = [key_of(e) for e in reference if e.generation_id == job["id"]]
    assert [e.type for e in one][-1] == "completed" and "progress" in [e.type for e in one]
    assert [key_of(e) for e in one] == expected
    assert [key_of(e) for e in account if e.generation_id == job["id"]] == expected
    # Broken often, and each reconnection resumed after the last whole event it had yielded.
    assert proxy.cuts >= 3
    yielded = {e.id for e in one} | {e.id for e in account}
    assert all(last in yielded for last in proxy.resumed_from if last and last != cursor)
    final = one[-1].generation
    assert isinstance(final, Generation) and final.status == "completed" and final.outputs


def test_a_finished_generation_stream_gives_its_final_state(client: Client) -> None:
    done = client.generate.image(prompt="quick").wait(timeout=60)
    [event] = list(client.events.stream(done.id))
    assert event.type == "completed" and event.snapshot and event.generation is not None
    # The same stored file, each URL signed when it was read (the expiry moves with the clock:
    # two reads a second apart differ only in their query).
    streamed, read = event.generation.outputs[0].url, done.outputs[0].url
    assert streamed.split("?")[0] == read.split("?")[0]
    assert "signature=" in streamed
    with pytest.raises(NotFoundError):
        next(iter(client.events.stream("gen_00000000000000000000000000")))


# Waiting --------------------------------------------------------------------------------------


def changes(events: list[Event[Generation]], generation_id: str) -> list[tuple[str, int]]:
    """The job's (status, progress) after each of its events that changed them: what
    ``wait(on_progress=…)`` reports."""
    state, found = ("queued", 0), []
    for event in events:
        if event.generation_id != generation_id:
            continue
        status = event.status or state[0]
        progress = event.progress if event.progress is not None else state[1]
        if (status, progress) != state:
            state = (status, progress)
            found.append(state)
    return found


def assert_seen_once_and_in_order(
    seen: list[tuple[str, int]], reference: list[tuple[str, int]]
) -> None:
    assert seen[-1] == ("completed", 100), seen
    assert len(seen) == len(set(seen)), f"a change was reported twice: {seen}"
    progress = [p for _, p in seen]
    assert progress == sorted(progress), seen
    # Everything after the state found at connect time (a snapshot, maybe between two of the
    # reference's changes): exactly the reference's, none lost or repeated across the cuts.
    first = 0 if seen[0] in reference else 1
    assert seen[first:] == reference[reference.index(seen[first]) :], (seen, reference)
    assert len(seen) - first >= 3, seen


def test_wait_resumes_its_stream_through_broken_connections(served: Served, client: Client) -> None:
    job: dict[str, str] = {}
    direct, reference = follow(served.url, served.key, job)
    until(lambda: reference, "the account stream")
    created = client.generate.image(prompt="a slow one [slow:2]")
    job["id"] = created.id
    seen: list[tuple[str, int]] = []

    with (
        cutting_proxy(served.url, cut_after=1) as proxy,
        Client(api_key=served.key, base_url=proxy.url) as broken,
    ):
        generation = Generation(broken, created.raw)
        # An hour between polls: only the resumed stream can finish this wait in time.
        generation.wait(
            timeout=60,
            on_progress=lambda g: seen.append((g.status, g.progress)),
            poll_interval=3600,
        )
    direct.join(60)

    assert generation.status == "completed" and generation.outputs
    assert_seen_once_and_in_order(seen, changes(reference, created.id))
    assert proxy.cuts >= 2
    # Each reconnection resumed after the last whole event (no new snapshot, no polling).
    assert proxy.resumed_from[0] is None and all(proxy.resumed_from[1:])


async def test_the_async_wait_resumes_its_stream_too(served: Served, client: Client) -> None:
    job: dict[str, str] = {}
    direct, reference = follow(served.url, served.key, job)
    until(lambda: reference, "the account stream")
    created = client.generate.image(prompt="async slow [slow:1]")
    job["id"] = created.id
    seen: list[tuple[str, int]] = []

    async def on_progress(g: AsyncGeneration) -> None:
        seen.append((g.status, g.progress))

    with cutting_proxy(served.url, cut_after=1) as proxy:
        async with AsyncClient(api_key=served.key, base_url=proxy.url) as broken:
            generation = AsyncGeneration(broken, created.raw)
            await generation.wait(timeout=60, on_progress=on_progress, poll_interval=3600)
    direct.join(60)

    assert generation.status == "completed" and generation.outputs
    assert_seen_once_and_in_order(seen, changes(reference, created.id))
    assert proxy.cuts >= 2 and all(proxy.resumed_from[1:])


# Chat -----------------------------------------------------------------------------------------


def test_chat_create_stream_and_send(client: Client) -> None:
    messages = [{"role": "user", "content": "Hello there"}]
    reply = client.chat.create(CHAT_MODEL, messages)
    assert reply.content and reply.finish_reason == "stop" and reply.usage is not None

    chunks = list(
        client.chat.create(
            CHAT_MODEL, messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(isinstance(chunk, ChatChunk) for chunk in chunks) and len(chunks) > 2
    assert "".join(chunk.delta for chunk in chunks) == reply.content  # the same placeholder
    assert chunks[-1].usage is not None
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]

    first = client.chat.send("Hi")
    second = client.chat.send("And again", conversation_id=first.conversation_id)
    assert second.conversation_id == first.conversation_id and second.reply
    assert first.sandbox and first.usage.total_tokens > 0


# The account, models, voices, templates -------------------------------------------------------


def test_the_account_and_its_ledger(served: Served, client: Client) -> None:
    account = client.account.get()
    assert isinstance(account, Account) and account.email == "sdk@example.com"
    assert account.sandbox and account.plan == "unlimited" and isinstance(account.usage, dict)
    assert client.account()["id"] == account.id  # the call of earlier versions, still there
    assert list(client.account.ledger()) == []  # the sandbox spends no credits

    # A live key sees the credits: the initial grant, then a paid render's.
    with Client(api_key=served.live_key, base_url=served.url) as owner:
        render = owner.templates.render("quote-card", texts={"quote": "Paid for"})
        assert render.wait(timeout=60).status == "completed" and render.credits.charged > 0
        entries = list(owner.account.ledger(limit=1))  # one per page: pages followed
        balance = owner.account.get().credit_balance
    assert all(isinstance(entry, LedgerEntry) for entry in entries)
    assert (entries[-1].kind, entries[-1].amount, entries[-1].generation_id) == ("grant", 100, None)
    assert len(entries) >= 3 and {e.generation_id for e in entries[:-1]} == {render.id}
    assert entries[0].balance_after == balance == 100 - render.credits.charged


def test_models_list_and_get(client: Client) -> None:
    speech = client.models.list(type="speech")
    assert speech and all(isinstance(m, Model) and m.type == "speech" for m in speech)
    assert "builtin/espeak" in [m.id for m in speech]
    espeak = client.models.get("builtin/espeak")  # an id with a slash
    assert espeak.available and espeak.input_schema and "text" in espeak.input_schema["properties"]
    assert all(m.input_schema is None for m in speech)  # the list leaves the schemas out
    with pytest.raises(InvalidRequestError):
        client.models.list(type="nonsense")


def wav(seconds: float = 1.0) -> bytes:
    buffer = BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(16_000)
        audio.writeframes(b"\x01\x00" * int(16_000 * seconds))
    return buffer.getvalue()


def test_voices_list_clone_from_uploads_and_delete(client: Client, tmp_path: Path) -> None:
    voices = client.voices.list(model="builtin/espeak")
    assert all(isinstance(v, Voice) and v.model == "builtin/espeak" for v in voices)
    assert len(voices) == voices.total > 0 and voices.cloning.available  # sandbox: always
    path = tmp_path / "take-1.wav"
    path.write_bytes(wav())
    uploaded = client.files.upload(wav(0.5), filename="take-2.wav")

    # A path (uploaded by the SDK), a File and an id as they are.
    voice = client.voices.create(
        "Narrator", [path, uploaded, uploaded.id], consent=True, language="en"
    )
    assert isinstance(voice, CustomVoice) and voice.id.startswith("voice_")
    assert voice.status == "ready" and voice.sandbox and voice.credits_charged == 0
    assert voice.consent.statement and voice.language == "en"
    hashes = [sample.sha256 for sample in voice.samples]
    assert hashes[0] == hashlib.sha256(wav()).hexdigest() and hashes[1:] == [uploaded.sha256] * 2
    assert client.voices.get(voice.id) == voice
    assert voice.id in [v.id for v in client.voices.list() if v.custom]
    with pytest.raises(InvalidRequestError):
        client.voices.create("No consent", [uploaded.id], consent=False)

    client.voices.delete(voice.id)
    with pytest.raises(NotFoundError):
        client.voices.get(voice.id)


def test_templates_list_get_and_render(client: Client) -> None:
    listed = list(client.templates.list(type="image", limit=2))  # pages followed
    ids = [t.id for t in listed]
    assert len(ids) > 2 and ids == sorted(set(ids)) and "quote-card" in ids
    card = client.templates.get("quote-card")
    assert isinstance(card, Template) and card.type == "image" and card.credits >= 0
    assert "quote" in [slot.name for slot in card.texts if slot.required]
    assert httpx.get(card.preview_url).headers["content-type"] == "image/png"

    rendered = client.templates.render(
        "quote-card", {"texts": {"quote": "Less, but better."}}, output_format="png"
    ).wait(timeout=60)
    assert isinstance(rendered, Generation) and rendered.status == "completed"
    with Image.open(BytesIO(httpx.get(rendered.outputs[0].url).content)) as image:
        assert image.size == (card.width, card.height)
    with pytest.raises(InvalidRequestError) as missing:
        client.templates.render("quote-card", texts={"author": "Dieter Rams"})
    assert missing.value.fields


# Async ----------------------------------------------------------------------------------------


async def test_the_async_twin(served: Served) -> None:
    async with AsyncClient(api_key=served.key, base_url=served.url) as client:
        uploaded = await client.files.upload(png(), filename="a.png")
        assert (await client.files.get(uploaded.id)).sha256 == uploaded.sha256
        assert uploaded.id in [f.id async for f in client.files.list(limit=1)]
        await client.files.delete(uploaded.id)

        hook = await client.webhooks.create("http://127.0.0.1:9/hook", description="async")
        assert hook.id in [h.id for h in await client.webhooks.list()]
        assert (await client.webhooks.update(hook.id, enabled=False)).enabled is False
        assert [d async for d in client.webhooks.deliveries(hook.id)] == []
        await client.webhooks.delete(hook.id)

        generation = await client.generate.image(prompt="async events [slow:1]")
        with cutting_proxy(served.url, cut_after=1) as proxy:
            async with AsyncClient(api_key=served.key, base_url=proxy.url) as broken:
                events = [e async for e in broken.events.stream(generation.id)]
        ids = [e.id for e in events]
        assert len(ids) == len(set(ids)) and proxy.cuts >= 1
        assert events[-1].type == "completed" and events[-1].generation is not None
        assert events[-1].generation.outputs

        reply = await client.chat.create(CHAT_MODEL, [{"role": "user", "content": "Hi"}])
        stream = await client.chat.create(
            CHAT_MODEL, [{"role": "user", "content": "Hi"}], stream=True
        )
        assert "".join([c.delta async for c in stream]) and reply.content
        assert (await client.chat.send("Hi")).reply

        assert (await client.account.get()).sandbox
        assert [e async for e in client.account.ledger()] == []
        assert (await client.models.get("builtin/espeak")).type == "speech"
        assert [m.id for m in await client.models.list(type="speech")]
        voice = await client.voices.create("Async", [wav()], consent=True)
        assert voice.id in [v.id for v in await client.voices.list() if v.custom]
        assert (await client.voices.get(voice.id)).samples[0].source == "upload"
        await client.voices.delete(voice.id)
        card = [t async for t in client.templates.list(limit=50) if t.id == "quote-card"]
        assert card and (await client.templates.get("quote-card")).texts == card[0].texts
        render = await client.templates.render("quote-card", texts={"quote": "Async"})
        assert (await render.wait(timeout=60)).status == "completed"


# The contract ---------------------------------------------------------------------------------


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_sdk_types_match_the_openapi_document(served: Served) -> None:
    """Every typed result has exactly its schema's fields (``object`` aside)."""
    spec = httpx.get(served.url + "/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def schema_of(name: str) -> dict[str, Any]:
        owner, _, prop = name.partition(".")  # "Schema.property": that array's items
        schema = schemas[owner]
        return resolve(spec, schema["properties"][prop]["items"]) if prop else schema

    checked: list[Any] = [types.File, types.Webhook, types.Delivery, types.DeliveryAttempt]
    checked += [types.ChatReply, types.ChatUsage, types.OutputData, types.JobError]
    checked += [types.Account, types.LedgerEntry, types.Model, types.ModelStep]
    checked += [types.ModelDeprecation, types.Voice, types.VoiceList, types.Cloning]
    checked += [types.CustomVoice, types.VoiceSample, types.Consent]
    checked += [types.Template, types.TextSlot, types.ImageSlot]
    for kind in checked:
        mine = {f.name for f in dataclasses.fields(kind) if f.name != "raw"}
        theirs = set(schema_of(kind.SCHEMA)["properties"]) - {"object"}
        assert mine == theirs, (kind.__name__, mine ^ theirs)
    for name in types.Event.SCHEMA:
        assert set(schemas[name]["properties"]) == {"id", "type", "generation_id", "data"}, name
    # What Event reads from `data`.
    data_fields = {
        name: set(resolve(spec, schemas[name]["properties"]["data"])["properties"])
        for name in types.Event.SCHEMA
    }
    assert {"status", "progress", "snapshot", "generation"} <= data_fields["StatusEvent"]
    assert {"status", "progress", "snapshot", "generation"} <= data_fields["FinalEvent"]
    assert {"resumed", "too_far_behind"} <= data_fields["ReadyEvent"]


def every_call(client: Client, tmp_path: Path) -> None:
    """Each SDK call once (against a transport that answers 404 to everything)."""
    (tmp_path / "f.png").write_bytes(b"x")
    calls: list[Callable[[], Any]] = [
        lambda: client.files.upload(tmp_path / "f.png"),
        lambda: client.files.get("file_1"),
        lambda: client.files.delete("file_1"),
        lambda: next(iter(client.files.list(limit=5))),
        lambda: client.webhooks.create("https://h.example/x", events=["x"], description="d"),
        lambda: client.webhooks.list(),
        lambda: client.webhooks.get("wh_1"),
        lambda: client.webhooks.update(
            "wh_1", url="https://h.example/y", events=["x"], description="d", enabled=True
        ),
        lambda: client.webhooks.delete("wh_1"),
        lambda: client.webhooks.rotate_secret("wh_1"),
        lambda: client.webhooks.test("wh_1"),
        lambda: next(iter(client.webhooks.deliveries("wh_1", limit=5))),
        lambda: client.webhooks.redeliver("whd_1"),
        lambda: client.webhooks.signing_secret(),
        lambda: next(iter(client.events.stream("gen_1", last_event_id="1-1"))),
        lambda: next(iter(client.events.stream())),
        lambda: client.chat.create("m", [{"role": "user", "content": "x"}], max_tokens=5),
        lambda: next(iter(client.chat.create("m", [], stream=True, temperature=1))),
        lambda: client.chat.send("x", conversation_id="c", model="m", max_tokens=5),
        lambda: client.account.get(),
        lambda: client.account(),
        lambda: next(iter(client.account.ledger(limit=5))),
        lambda: client.models.list(type="image"),
        lambda: client.models.get("m_1"),
        lambda: client.voices.list(language="en", model="m"),
        lambda: client.voices.create(
            "n",
            ["file_" + "a" * 26],
            consent=True,
            description="d",
            language="en",
            remove_background_noise=True,
        ),
        lambda: client.voices.get("voice_1"),
        lambda: client.voices.delete("voice_1"),
        lambda: next(iter(client.templates.list(type="image", category="c", tag="t", limit=5))),
        lambda: client.templates.get("t"),
        lambda: client.templates.render("t", {"texts": {"a": "b"}}, output_format="png"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError):
            call()


def test_every_sdk_call_is_a_route_of_the_openapi_document(served: Served, tmp_path: Path) -> None:
    """Routes, methods, query parameters and JSON body fields, as the SDK sends them."""
    spec = httpx.get(served.url + "/openapi.json").json()
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    http = httpx.Client(transport=httpx.MockTransport(record))
    every_call(Client("ms_test_" + "k" * 40, "http://sdk.test", http_client=http), tmp_path)
    assert len(sent) == 31
    templates = {path: ops for path, ops in spec["paths"].items()}
    for request in sent:
        if request.url.path == "/v1/chat/completions":
            # The OpenAI-compatible surface is kept out of /openapi.json (docs/compat.md).
            body = httpx.Response(200, content=request.content).json()
            assert set(body) <= set(ChatCompletionRequest.model_fields)
            continue
        found = [
            (path, ops)
            for path, ops in templates.items()
            if _matches(path, request.url.path) and request.method.lower() in ops
        ]
        assert found, (request.method, request.url.path)
        operation = found[0][1][request.method.lower()]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(request.url.params) <= names, (request.url.path, request.url.params)
        headers = {
            p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"
        }
        for header in ("last-event-id", "idempotency-key"):
            if header in request.headers:
                assert header in headers, (request.url.path, header)
        if request.headers.get("content-type") == "application/json":
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            fields = set(resolve(spec, body)["properties"])
            assert set(httpx.Response(200, content=request.content).json()) <= fields
        elif request.method == "POST" and request.content:
            assert "multipart/form-data" in operation["requestBody"]["content"]


def _matches(template: str, path: str) -> bool:
    parts, actual = template.split("/"), path.split("/")
    return len(parts) == len(actual) and all(
        p == a or (p.startswith("{") and p.endswith("}"))
        for p, a in zip(parts, actual, strict=True)
    )
