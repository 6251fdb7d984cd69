"""The retry decisions, with answers scripted by httpx's MockTransport (no server needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from mediastudio.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidRequestError,
    MediaStudioError,
    RateLimitError,
    ServerError,
    core,
)

URL = "http://media.test"
KEY = "ms_test_" + "k" * 40
CREATED = {"id": "gen_1", "status": "queued", "progress": 0, "outputs": []}
BUSY = {"error": {"code": "rate_limited", "message": "slow down", "request_id": "req_1"}}


def scripted(*answers: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.MockTransport(handle), seen


def sync_client(transport: httpx.MockTransport, *, max_retries: int = 3) -> Client:
    http = httpx.Client(transport=transport)
    return Client(KEY, URL, http_client=http, max_retries=max_retries)


def test_429_and_503_are_retried_with_one_idempotency_key() -> None:
    transport, seen = scripted(
        httpx.Response(429, json=BUSY, headers={"Retry-After": "0"}),
        httpx.Response(503, json={}, headers={"Retry-After": "0"}),
        httpx.Response(202, json=CREATED),
    )
    generation = sync_client(transport).generate.image(prompt="x")
    assert generation.id == "gen_1" and len(seen) == 3
    keys = {request.headers["Idempotency-Key"] for request in seen}
    assert len(keys) == 1 and keys.pop().startswith("sdk-")
    assert all(request.headers["Authorization"] == f"Bearer {KEY}" for request in seen)


def test_two_creates_have_two_keys() -> None:
    transport, seen = scripted(httpx.Response(202, json=CREATED), httpx.Response(202, json=CREATED))
    client = sync_client(transport)
    client.generate.image(prompt="a")
    client.generate.image(prompt="b")
    assert seen[0].headers["Idempotency-Key"] != seen[1].headers["Idempotency-Key"]


def test_retries_end_in_the_typed_error() -> None:
    limited = [httpx.Response(429, json=BUSY, headers={"Retry-After": "0"}) for _ in range(3)]
    transport, seen = scripted(*limited)
    with pytest.raises(RateLimitError) as raised:
        sync_client(transport, max_retries=2).generations.get("gen_1")
    assert len(seen) == 3 and raised.value.request_id == "req_1"


def test_client_errors_are_not_retried() -> None:
    transport, seen = scripted(httpx.Response(400, json={"error": {"code": "invalid_request"}}))
    with pytest.raises(InvalidRequestError):
        sync_client(transport).generate.image(prompt="x")
    assert len(seen) == 1


def test_a_cancel_whose_connection_broke_is_not_sent_again() -> None:
    sent: list[httpx.Request] = []

    def broken(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.ReadError("connection reset", request=request)

    client = Client(KEY, URL, http_client=httpx.Client(transport=httpx.MockTransport(broken)))
    with pytest.raises(MediaStudioError):
        client.generations.cancel("gen_1")
    assert len(sent) == 1


def test_retry_after_as_an_http_date_and_its_ceiling() -> None:
    config = core.Config(KEY, URL, 60.0, 3, 0.5)
    later = format_datetime(datetime(2999, 1, 1, tzinfo=UTC), usegmt=True)
    far = httpx.Response(503, headers={"Retry-After": later})
    assert core.retry_delay(config, 0, far) == core.MAX_DELAY_S
    assert core.retry_delay(config, 3, far) is None  # retries spent
    assert core.retry_delay(config, 0, httpx.Response(500)) is None


def test_a_missing_key_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIASTUDIO_API_KEY", raising=False)
    with pytest.raises(MediaStudioError, match="MEDIASTUDIO_API_KEY"):
        Client()


async def test_the_async_twin_retries_the_same_way() -> None:
    transport, seen = scripted(
        httpx.Response(503, json={}, headers={"Retry-After": "0"}),
        httpx.Response(500, json={"error": {"code": "internal_error", "request_id": "req_2"}}),
    )
    client = AsyncClient(KEY, URL, http_client=httpx.AsyncClient(transport=transport))
    with pytest.raises(ServerError) as raised:
        await client.generate.video(prompt="x")
    assert len(seen) == 2 and raised.value.request_id == "req_2"
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


def sse(*events: tuple[str, str, dict[str, object]]) -> bytes:
    """An event stream body: ``(id, event, data)`` each."""
    out = "retry: 0\n\n"
    for event_id, name, data in events:
        out += f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n"
    return out.encode()


def stream_client(transport: httpx.MockTransport, *, max_retries: int = 3) -> Client:
    http = httpx.Client(transport=transport)
    return Client(KEY, URL, http_client=http, max_retries=max_retries, backoff_s=0.001)


def test_a_stream_that_ends_early_resumes_after_its_last_event() -> None:
    status = {"id": "7-1", "type": "status", "generation_id": "gen_1", "data": {"status": "queued"}}
    done = {"id": "7-2", "type": "completed", "generation_id": "gen_1", "data": {"status": "x"}}
    transport, seen = scripted(
        httpx.Response(200, content=sse(("7-1", "status", status)) + b"id: 7-2\ndata: {"),
        httpx.Response(200, content=sse(("7-2", "completed", done))),
    )
    events = list(stream_client(transport).events.stream("gen_1"))
    assert [event.id for event in events] == ["7-1", "7-2"]  # the half event was dropped
    assert "last-event-id" not in seen[0].headers
    assert seen[1].headers["Last-Event-ID"] == "7-1"
    assert events[-1].terminal and events[0].status == "queued"


def test_a_refused_key_on_the_stream_is_raised_not_retried() -> None:
    refused = {"type": "error", "error": {"code": "invalid_api_key", "message": "revoked"}}
    body = b"event: error\ndata: " + json.dumps(refused).encode() + b"\n\n"
    transport, seen = scripted(httpx.Response(200, content=body))
    with pytest.raises(AuthenticationError) as raised:
        list(stream_client(transport).events.stream())
    assert raised.value.code == "invalid_api_key" and len(seen) == 1


def test_a_stream_that_never_delivers_gives_up_after_max_retries() -> None:
    transport, seen = scripted(*[httpx.Response(200, content=sse()) for _ in range(3)])
    with pytest.raises(APIConnectionError):
        list(stream_client(transport, max_retries=2).events.stream())
    assert len(seen) == 3  # the first connection and two reconnections
