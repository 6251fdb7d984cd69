"""Schemathesis hooks of the contract test (tests/e2e/test_openapi_contract.py).

Two values are made to be what a real client sends, rather than left as drawn:

- Registering a webhook resolves its host, which no schema can promise: a drawn
  ``https://0.com`` is valid by the document and refused, as it should be. Every webhook URL
  sent is replaced by one the server takes: a literal address on its allowlist, where port 9
  (discard) refuses connections at once, so the deliveries made to it fail fast.
- Schemathesis draws header values from a small pool, so unrelated bodies share an
  ``Idempotency-Key`` and get the documented 422 ``idempotency_key_reused``. A client uses one key
  per request; each valid drawn key gets a suffix that makes it unique.

- Cloning a voice fetches its samples at once, and a drawn ``file_…`` id names no upload, a
  drawn URL no server: every well-formed list of samples is replaced by one short WAV as a
  ``data:`` URI, which the server takes (a sandbox key: a placeholder voice).

- A NUL character (``\u0000``) in a JSON body is refused at the edge with a documented 400
  ``invalid_request`` (no database stores it the same way; tests/api/test_errors.py), which a
  JSON Schema string cannot say: drawn strings have their NULs replaced, so the body reaches the
  operation it was drawn for instead of the edge's refusal.

Only values of the right type and form are changed; a missing or malformed one stays as drawn.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
import wave
from typing import Any

import schemathesis

WEBHOOK_URL = "https://127.0.0.1:9/hooks/contract"
ALLOW_HOSTS = "127.0.0.1"
# The operations that register a URL, and the body field that holds it.
URL_FIELDS = {
    ("POST", "/api/v1/webhooks"): "url",
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): "url",
    ("PATCH", "/api/v1/settings"): "webhook_url",
}
VOICES = ("POST", "/api/v1/voices")
IDEMPOTENCY_KEY = "Idempotency-Key"
VALID_KEY = re.compile(r"[!-~](?:[ -~]*[!-~])?")
_requests = itertools.count()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    field = URL_FIELDS.get((case.method.upper(), case.path))
    if field is not None and isinstance(case.body, dict) and isinstance(case.body.get(field), str):
        case.body[field] = WEBHOOK_URL
    if (case.method.upper(), case.path) == VOICES and isinstance(case.body, dict):
        drawn = case.body.get("samples")
        if isinstance(drawn, list) and drawn and all(isinstance(s, str) for s in drawn):
            case.body["samples"] = [_sample()]
    if case.body is not None:
        case.body = _without_nul(case.body)
    key = (case.headers or {}).get(IDEMPOTENCY_KEY)
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        case.headers[IDEMPOTENCY_KEY] = f"{key[:200]}.{next(_requests)}"


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL in its strings (keys included) replaced by a space."""
    if isinstance(value, str):
        return value.replace("\x00", " ")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def _sample() -> str:
    """A tenth of a second of silence as a WAV ``data:`` URI."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\0\0" * 800)
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()
