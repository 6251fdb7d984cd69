"""NUL in a JSON body: found however the body is cut into chunks, told apart from an escaped
backslash, and answered with the 400 envelope before the route's answer; PostgreSQL's own
refusal recognised through SQLAlchemy's wrapper (tests/api/test_errors.py runs both for real)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from mediastudio.kit.edge import EdgeMiddleware, has_nul_escape
from mediastudio.kit.errors import is_nul_refused


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (b'{"a": "x\\u0000"}', True),
        (b'{"a": "x\\\\u0000"}', False),  # a backslash, then the text u0000
        (b'{"a": "x\\\\\\u0000"}', True),  # a backslash, then NUL
        (b'{"a\\u0000": 1}', True),
        (b'{"a": "u0000"}', False),
        (b'{"a": "\\u00000"}', True),
    ],
)
def test_the_escape_is_told_from_text(text: bytes, found: bool) -> None:
    assert has_nul_escape(text) is found
    assert json.loads(text)  # every case is valid JSON


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = await Request(scope, receive).body()
    await JSONResponse({"length": len(body)})(scope, receive, send)


async def _post(chunks: list[bytes], content_type: str = "application/json") -> tuple[int, Any]:
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/generations",
        "headers": [(b"content-type", content_type.encode())],
        "query_string": b"",
    }
    await EdgeMiddleware(_echo, limit=1 << 20)(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


@pytest.mark.parametrize("cut", range(1, 8))
async def test_an_escape_split_between_chunks_is_found(cut: int) -> None:
    body = b'{"prompt": "' + b"x" * 100 + b'\\u0000"}'
    at = body.index(b"\\u0000") + cut - 1
    status, answer = await _post([body[:at], body[at:]])
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request" and "NUL" in answer["error"]["message"]


async def test_other_bodies_pass_untouched() -> None:
    assert await _post([b'{"a": "x\\\\u0000"}']) == (200, {"length": 17})
    # Not JSON (a form, an upload): the bytes are the client's business.
    assert (await _post([b"a=\\u0000"], "application/x-www-form-urlencoded"))[0] == 200


def test_postgresqls_refusal_is_recognised_through_the_wrapper() -> None:
    class Driver(Exception):
        sqlstate = "22021"

    class Wrapper(Exception):
        def __init__(self) -> None:
            super().__init__("wrapped")
            self.orig = Driver()

    assert is_nul_refused(Wrapper())
    assert not is_nul_refused(ValueError("22021"))
