"""``POST /v1/chat/completions`` with the official ``openai`` client against a real MediaStudio
server on loopback, itself on the fake OpenAI: replies (sync and async clients, streamed and
not), the chat service's credits, quota, idempotency and stored conversations, a provider that
fails mid-stream, a client that leaves mid-stream, sandbox streams shaped as live ones, and
refusals in OpenAI's error shape."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionChunk
from sqlalchemy import select

from mediastudio.chat.models import Conversation
from tests.conftest import auth, make_settings
from tests.live_server import LiveApi
from tests.openai_compat.test_openai_client import client, key_of, server, with_openai
from tests.providers.fake_openai import FakeOpenAI, RunningOpenAI
from tests.providers.test_replicate_jobs import balance, ledger_kinds

CHAT = "/v1/chat/completions"
HELLO: list[Any] = [{"role": "user", "content": "hello there"}]
STEP_S = 0.02  # how often a test looks again for what the server settles after a stream


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with RunningOpenAI() as running:
        yield running


async def conversation(live: LiveApi, key: str) -> list[dict[str, Any]]:
    """The messages of the account's latest conversation, as GET /api/v1/chat/… reads them."""
    account = (await live.client.get("/api/v1/account", headers=auth(key))).json()["id"]
    async with live.platform.db.read() as session:
        latest = await session.scalar(
            select(Conversation)
            .where(Conversation.account_id == account)
            .order_by(Conversation.created_at.desc())
            .limit(1)
        )
    assert latest is not None
    read = await live.client.get(f"/api/v1/chat/conversations/{latest.id}", headers=auth(key))
    messages: list[dict[str, Any]] = read.json()["messages"]
    return messages


async def eventually(check: Callable[[], Awaitable[bool]], tries: int = 500) -> None:
    """Wait for what the server does after the client is gone (bounded by tries, not time)."""
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(STEP_S)
    raise AssertionError("the server never settled")


def shape(chunks: list[ChatCompletionChunk]) -> list[Any]:
    """What a stream is made of, without its words: each chunk's fields and delta fields."""
    return [
        (
            sorted(chunk.model_dump(exclude_unset=True)),
            [
                (sorted(choice.delta.model_dump(exclude_unset=True)), choice.finish_reason)
                for choice in chunk.choices
            ],
        )
        for chunk in chunks
    ]


async def test_a_reply_is_charged_once_and_stored_as_a_conversation(
    tmp_path: Any, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=100)
        answer = await client(live, key).chat.completions.create(
            model="gpt-5.4-mini",  # OpenAI's name: the openai/ chat model
            messages=[
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hello"},
                        {"type": "text", "text": "there"},
                    ],
                },
            ],
            max_completion_tokens=50,
            temperature=1,  # a reasoning model's only one: accepted, not sent
            user="someone",  # accepted and ignored
        )
        assert answer.object == "chat.completion" and answer.model == "openai/gpt-5.4-mini"
        [choice] = answer.choices
        assert choice.message.role == "assistant" and choice.finish_reason == "stop"
        assert choice.message.content == "Reply to 2 messages: hello there"  # words joined
        assert answer.usage is not None and answer.usage.total_tokens == 4 + 6
        [call] = openai_fake.calls(CHAT)
        assert call.body == {
            "model": "gpt-5.4-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hello\nthere"},
            ],
            "stream": False,
            "max_completion_tokens": 50,
        }
        assert await balance(live, key) == (99, 0)
        messages = await conversation(live, key)
        assert [(m["role"], m["status"]) for m in messages] == [
            ("system", "answered"),
            ("user", "answered"),
            ("assistant", "answered"),
        ]
        assert messages[-1]["id"] == answer.id
        user_id = messages[1]["id"]
        assert await ledger_kinds(live, key, user_id) == {"reserve": [1], "capture": [-1]}

        # The synchronous client too (in a thread: this server runs in the test's loop).
        def sync_call() -> str | None:
            with openai.OpenAI(base_url=f"{live.base_url}/v1", api_key=key, max_retries=0) as ms:
                reply = ms.chat.completions.create(model="openai/gpt-5.4", messages=HELLO)
                return reply.choices[0].message.content

        assert await asyncio.to_thread(sync_call) == "Reply to 1 messages: hello there"
        assert await balance(live, key) == (89, 0)

        # Another temperature is refused before anything is sent or charged.
        with pytest.raises(openai.BadRequestError) as refused:
            await client(live, key).chat.completions.create(
                model="gpt-5.4-mini", messages=HELLO, temperature=0.3
            )
        assert "only the default temperature" in refused.value.message
        assert len(openai_fake.calls(CHAT)) == 2 and await balance(live, key) == (89, 0)


async def test_a_stream_relays_the_reply_and_charges_once(
    tmp_path: Any, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=100)
        stream = await client(live, key).chat.completions.create(
            model="openai/gpt-5.4-mini",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        first, *middle, last, usage = chunks
        assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
        assert len({chunk.id for chunk in chunks}) == 1
        assert first.choices[0].delta.role == "assistant"
        text = "".join(chunk.choices[0].delta.content or "" for chunk in middle)
        assert text == "Reply to 1 messages: hello there"
        assert len(middle) == 6  # relayed as the provider wrote it: one word a chunk
        assert last.choices[0].finish_reason == "stop" and last.usage is None
        assert usage.choices == [] and usage.usage is not None
        assert (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (2, 6)
        [call] = openai_fake.calls(CHAT)
        assert call.body["stream"] is True
        assert call.body["stream_options"] == {"include_usage": True}

        assert await balance(live, key) == (99, 0)
        messages = await conversation(live, key)
        assert [(m["role"], m["content"]) for m in messages] == [
            ("user", "hello there"),
            ("assistant", text),
        ]
        assert await ledger_kinds(live, key, messages[0]["id"]) == {
            "reserve": [1],
            "capture": [-1],
        }

        # The synchronous client's stream, without usage.
        def sync_stream() -> list[ChatCompletionChunk]:
            with openai.OpenAI(base_url=f"{live.base_url}/v1", api_key=key, max_retries=0) as ms:
                return list(
                    ms.chat.completions.create(model="gpt-5.4-mini", messages=HELLO, stream=True)
                )

        plain = await asyncio.to_thread(sync_stream)
        assert all(chunk.choices and chunk.usage is None for chunk in plain)
        assert "".join(c.choices[0].delta.content or "" for c in plain) == text
        assert await balance(live, key) == (98, 0)


async def test_an_idempotent_retry_replays_without_a_second_charge(
    tmp_path: Any, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=10)
        ms = client(live, key)
        once = {"Idempotency-Key": "chat-1"}
        first = await ms.chat.completions.create(
            model="gpt-5.4-mini", messages=HELLO, extra_headers=once
        )
        raw = await ms.chat.completions.with_raw_response.create(
            model="gpt-5.4-mini", messages=HELLO, extra_headers=once
        )
        assert raw.headers["Idempotent-Replayed"] == "true"
        assert raw.parse().model_dump() == first.model_dump()

        streamed = {"Idempotency-Key": "chat-2"}
        chunks = [
            c
            async for c in await ms.chat.completions.create(
                model="gpt-5.4-mini", messages=HELLO, stream=True, extra_headers=streamed
            )
        ]
        again = [
            c
            async for c in await ms.chat.completions.create(
                model="gpt-5.4-mini", messages=HELLO, stream=True, extra_headers=streamed
            )
        ]
        assert {c.id for c in again} == {chunks[0].id}
        joined = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert "".join(c.choices[0].delta.content or "" for c in again) == joined
        assert again[-1].choices[0].finish_reason == "stop"
        assert len(openai_fake.calls(CHAT)) == 2 and await balance(live, key) == (8, 0)

        with pytest.raises(openai.UnprocessableEntityError) as reused:
            await ms.chat.completions.create(
                model="gpt-5.4-mini",
                messages=[{"role": "user", "content": "something else"}],
                extra_headers=once,
            )
        assert reused.value.code == "idempotency_key_reused"


async def test_the_daily_quota_and_credits_refuse_before_any_stream(
    tmp_path: Any, openai_fake: FakeOpenAI
) -> None:
    settings = with_openai(
        tmp_path / "data", openai_fake, plans={"unlimited": {"daily_quotas": {"chat": 1}}}
    )
    async with server(settings) as live:
        key = await key_of(live, credits=100)
        ms = client(live, key)
        await ms.chat.completions.create(model="gpt-5.4-mini", messages=HELLO)
        for stream in (False, True):
            with pytest.raises(openai.RateLimitError) as over:
                await ms.chat.completions.create(
                    model="gpt-5.4-mini", messages=HELLO, stream=stream
                )
            assert over.value.code == "quota_exceeded"
            assert over.value.type == "rate_limit_error"  # type: ignore[attr-defined]
        broke = await key_of(live, credits=0)
        with pytest.raises(openai.APIStatusError) as poor:
            await client(live, broke).chat.completions.create(
                model="gpt-5.4-mini", messages=HELLO, stream=True
            )
        assert poor.value.status_code == 402 and poor.value.code == "insufficient_credits"
        assert len(openai_fake.calls(CHAT)) == 1


async def test_a_provider_failing_mid_stream_is_refunded(
    tmp_path: Any, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=10)
        ms = client(live, key)
        for how in ("error", "cut"):
            openai_fake.stream_break_after, openai_fake.stream_break = 3, how
            got: list[ChatCompletionChunk] = []
            with pytest.raises(openai.APIError) as failed:
                async for chunk in await ms.chat.completions.create(
                    model="gpt-5.4", messages=HELLO, stream=True
                ):
                    got.append(chunk)
            assert failed.value.code == "provider_error"  # our error event, OpenAI's shape
            assert "".join(c.choices[0].delta.content or "" for c in got) == "Reply to"
            messages = await conversation(live, key)
            assert [(m["role"], m["status"]) for m in messages] == [("user", "failed")]
            kinds = await ledger_kinds(live, key, messages[0]["id"])
            assert kinds == {"reserve": [10], "refund": [-10]}
        assert await balance(live, key) == (10, 0)

        # A failure before the first piece is the answer's status, as OpenAI's are.
        openai_fake.stream_break_after = 0
        with pytest.raises(openai.APIStatusError) as early:
            await ms.chat.completions.create(model="gpt-5.4", messages=HELLO, stream=True)
        assert early.value.status_code == 502 and early.value.code == "provider_error"
        assert await balance(live, key) == (10, 0)


async def test_a_client_that_leaves_mid_stream(tmp_path: Any, openai_fake: FakeOpenAI) -> None:
    """It stops the provider's stream; with no text received nothing is charged, with some it
    is charged once and the part it got is stored as a partial reply."""
    openai_fake.chunk_delay_s = 0.3
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        key = await key_of(live, credits=10)
        ms = client(live, key)

        early = await ms.chat.completions.create(model="gpt-5.4", messages=HELLO, stream=True)
        start = await early.__anext__()
        assert start.choices[0].delta.role == "assistant"
        await early.close()  # before any text
        await eventually(lambda: _equals(balance(live, key), (10, 0)))
        messages = await conversation(live, key)
        assert [m["status"] for m in messages] == ["failed"]
        await eventually(lambda: _is(openai_fake.streams_abandoned == 1))

        late = await ms.chat.completions.create(model="gpt-5.4", messages=HELLO, stream=True)
        chunks = [await late.__anext__() for _ in range(3)]
        await late.close()  # after two words
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Reply to"
        await eventually(lambda: _equals(balance(live, key), (0, 0)))
        messages = await conversation(live, key)
        assert [(m["role"], m["status"], m["content"]) for m in messages] == [
            ("user", "answered", "hello there"),
            ("assistant", "partial", "Reply to"),
        ]
        assert await ledger_kinds(live, key, messages[0]["id"]) == {
            "reserve": [10],
            "capture": [-10],
        }
        await eventually(lambda: _is(openai_fake.streams_abandoned == 2))
        assert len(openai_fake.calls(CHAT)) == 2


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def _is(value: bool) -> bool:
    return value


async def test_a_sandbox_stream_is_shaped_as_a_live_one(
    tmp_path: Any, openai_fake: FakeOpenAI
) -> None:
    async with server(with_openai(tmp_path / "data", openai_fake)) as live:
        account = await live.account(f"{uuid.uuid4().hex}@example.com", credits=5)
        sandbox, real = await live.key(account, sandbox=True), await live.key(account)
        streams = {}
        for name, key in (("sandbox", sandbox), ("live", real)):
            streams[name] = [
                chunk
                async for chunk in await client(live, key).chat.completions.create(
                    model="gpt-5.4-mini",
                    messages=HELLO,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            ]
        placeholder = "".join(
            c.choices[0].delta.content or "" for c in streams["sandbox"] if c.choices
        )
        assert placeholder.startswith("[sandbox]") and "hello there" in placeholder
        body = shape(streams["sandbox"])
        assert len(body) > 4  # the role, a few pieces, the end, the usage
        assert body[:2] + body[-3:] == shape(streams["live"])[:2] + shape(streams["live"])[-3:]
        assert {tuple(map(str, s)) for s in body[1:-2]} == {
            tuple(map(str, s)) for s in shape(streams["live"])[1:-2]
        }
        whole = await client(live, sandbox).chat.completions.create(
            model="gpt-5.4-mini", messages=HELLO
        )
        assert whole.choices[0].message.content == placeholder
        assert len(openai_fake.calls(CHAT)) == 1  # the live one only
        assert await balance(live, real) == (4, 0)


async def test_refusals_are_openais_shape(tmp_path: Any) -> None:
    async with server(make_settings(tmp_path / "data")) as live:
        key = await key_of(live, sandbox=True)
        ms = client(live, key)
        image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
        refused: list[tuple[dict[str, Any], str]] = [
            ({"messages": [{"role": "user", "content": [image]}]}, "messages[0].content[0]"),
            ({"messages": HELLO, "n": 2}, "n"),
            ({"messages": HELLO, "tools": [{"type": "function", "function": {"name": "f"}}]},
             "tools"),
            ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]},
             "messages[0].role"),
            ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
            ({"messages": HELLO, "model": "nobody/nothing"}, "model"),
        ]  # fmt: skip
        for fields, param in refused:
            with pytest.raises(openai.BadRequestError) as bad:
                await ms.chat.completions.create(**{"model": "gpt-5.4-mini", **fields})
            assert bad.value.param == param, fields
        raw = await live.client.post(
            CHAT, headers=auth(key), json={"model": "gpt-5.4-mini", "messages": HELLO, "foo": 1}
        )
        assert raw.status_code == 400 and raw.json()["error"]["param"] == "foo"
        # Harmless values of unsupported parameters pass.
        fine = await ms.chat.completions.create(
            model="gpt-5.4-mini", messages=HELLO, n=1, response_format={"type": "text"}
        )
        assert fine.choices[0].message.content

        reader = await key_of(live, scopes=["read"])
        for stream in (False, True):
            with pytest.raises(openai.PermissionDeniedError) as scope:
                await client(live, reader).chat.completions.create(
                    model="gpt-5.4-mini", messages=HELLO, stream=stream
                )
            assert scope.value.code == "insufficient_scope"
            assert scope.value.type == "permission_error"  # type: ignore[attr-defined]
