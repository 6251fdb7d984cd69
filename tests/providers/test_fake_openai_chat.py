"""The fake OpenAI's chat completions are OpenAI's as far as the official client can tell: typed
completions with usage, a refusal, the token bound, and typed errors."""

from __future__ import annotations

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
