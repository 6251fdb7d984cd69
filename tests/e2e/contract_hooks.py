"""Schemathesis hooks of the contract test (tests/e2e/test_openapi_contract.py).

Registering a webhook resolves its host, which no schema can promise: a drawn ``https://0.com``
is valid by the document and still refused, as it should be. So every webhook URL sent is
replaced by one the server takes: a literal address on its allowlist, where port 9 (discard)
refuses connections at once, so the deliveries made to it fail fast. Only strings are replaced;
a URL that is missing or of the wrong type stays as drawn.
"""

from __future__ import annotations

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


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    field = URL_FIELDS.get((case.method.upper(), case.path))
    if field is not None and isinstance(case.body, dict) and isinstance(case.body.get(field), str):
        case.body[field] = WEBHOOK_URL
