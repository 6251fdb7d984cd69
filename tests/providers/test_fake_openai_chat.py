"""The fake OpenAI's chat completions are OpenAI's as far as the official client can tell: typed
completions with usage, a refusal, the token bound, and typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.providers.fake_openai import FakeOpenAI, RunningOpenAI, error

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with RunningOpenAI() as running:
        yield running


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=fake.key, base_url=fake.api_url, max_retries=0) as opened:
        yield opened


def test_a_completion_is_typed_with_usage(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
        max_completion_tokens=50,
        temperature=0.2,
    )
    assert answer.object == "chat.completion"
    [choice] = answer.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == "Reply to 2 messages: hello there"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 6)
    sent = fake.calls(CHAT)[-1].body
    assert sent["max_completion_tokens"] == 50 and sent["temperature"] == 0.2


def test_the_token_bound_cuts_the_reply(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "one two three four"}],
        max_tokens=3,
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.content == "Reply to 1"


def test_a_refusal_has_no_content(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "something forbidden"}]
    )
    message = answer.choices[0].message
    assert message.content is None and message.refusal


def test_errors_are_typed(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert empty.value.param == "messages"
    fake.script(CHAT, error(500, "The server had an error.", "server_error"))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    wrong = openai.OpenAI(api_key="sk-wrong", base_url=fake.api_url, max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as refused:
        wrong.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert refused.value.code == "invalid_api_key"


def test_a_stream_is_openais_chunks(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    with client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hello there"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = list(stream)
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    first, *middle, last, usage = chunks
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    text = "".join(chunk.choices[0].delta.content or "" for chunk in middle)
    assert text == "Reply to 1 messages: hello there"
    assert all(chunk.choices[0].finish_reason is None for chunk in [first, *middle])
    assert last.choices[0].finish_reason == "stop" and last.usage is None
    assert usage.choices == [] and usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (2, 6)
    assert fake.calls(CHAT)[-1].body["stream"] is True


def test_a_stream_without_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "one two"}], stream=True
    )
    chunks = list(stream)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)


def test_a_stream_that_fails_midway_raises(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.stream_break_after = 3
    try:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        got = []
        with pytest.raises(openai.APIError) as failed:
            for chunk in stream:
                got.append(chunk)
        assert len(got) == 3 and "server had an error" in failed.value.message
        fake.stream_break = "cut"
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIConnectionError):
            list(stream)
    finally:
        fake.stream_break_after, fake.stream_break = None, "error"


def test_a_reasoning_model_refuses_other_temperatures_and_max_tokens(
    client: openai.OpenAI,
) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "hello there"}
    ]
    answer = client.chat.completions.create(
        model="gpt-5.4-mini", messages=messages, max_completion_tokens=50, temperature=1
    )
    assert answer.choices[0].message.content == "Reply to 1 messages: hello there"
    with pytest.raises(openai.BadRequestError) as hot:
        client.chat.completions.create(model="gpt-5.5", messages=messages, temperature=0.2)
    assert (hot.value.code, hot.value.param) == ("unsupported_value", "temperature")
    with pytest.raises(openai.BadRequestError) as bound:
        client.chat.completions.create(model="gpt-5.4", messages=messages, max_tokens=10)
    assert (bound.value.code, bound.value.param) == ("unsupported_parameter", "max_tokens")


def test_json_mode_translates_lines_by_the_glossary(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    """What the translation step sends, through the official client: JSON mode, the lines as a
    JSON object; the fake answers the translations as JSON (unknown lines marked)."""
    fake.glossary["Hello."] = "Hola."
    lines = json.dumps({"lines": ["Hello.", "Bye."]})
    answer = client.chat.completions.create(
        model="gpt-5.4-mini",
        messages=[
            {"role": "system", "content": "Translate; answer JSON."},
            {"role": "user", "content": lines},
        ],
        response_format={"type": "json_object"},
    )
    content = answer.choices[0].message.content
    assert content is not None
    assert json.loads(content) == {"translations": ["Hola.", "Bye. [translated]"]}


def test_json_mode_needs_the_word_json_in_the_messages(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-5.4-mini",
            messages=[{"role": "user", "content": "Say hi."}],
            response_format={"type": "json_object"},
        )
    assert "must contain the word 'json'" in str(caught.value)
