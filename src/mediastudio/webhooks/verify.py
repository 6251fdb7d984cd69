"""Verifying a delivery on the receiving side: ``mediastudio.verify_webhook``.

Needs nothing but the standard library, so a receiver can copy this file alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any


class WebhookVerificationError(ValueError):
    """The delivery is not from us, was altered, or is too old (a replay)."""


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    tolerance: int = 300,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a delivery's signature and freshness; return the parsed event.

    ``payload`` is the raw request body, exactly as received (not re-serialised); ``secret`` is
    the endpoint's ``whsec_…`` secret (or the account's signing secret for a generation's own
    ``webhook_url``). The Standard Webhooks headers are checked when present, else seed 000's
    ``X-Webhook-Signature``. Raises :class:`WebhookVerificationError`.
    """
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    lowered = {name.lower(): value for name, value in headers.items()}
    current = time.time() if now is None else now
    if "webhook-signature" in lowered:
        _verify_standard(body, lowered, secret, tolerance, current)
    elif "x-webhook-signature" in lowered:
        _verify_seed(body, lowered["x-webhook-signature"], secret, tolerance, current)
    else:
        raise WebhookVerificationError("No webhook signature header.")
    try:
        event: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError("The payload is not JSON.") from exc
    return event


def _fresh(timestamp: str, tolerance: int, now: float) -> int:
    try:
        value = int(timestamp)
    except ValueError as exc:
        raise WebhookVerificationError("Invalid signature timestamp.") from exc
    if abs(now - value) > tolerance:
        raise WebhookVerificationError("The signature timestamp is too old or too new.")
    return value


def _verify_standard(
    body: bytes, headers: Mapping[str, str], secret: str, tolerance: int, now: float
) -> None:
    event_id = headers.get("webhook-id", "")
    timestamp = _fresh(headers.get("webhook-timestamp", ""), tolerance, now)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(signature, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(given, expected):
            return
    raise WebhookVerificationError("No matching signature.")


def _verify_seed(body: bytes, header: str, secret: str, tolerance: int, now: float) -> None:
    parts = [part.partition("=") for part in header.split(",")]
    timestamps = [value for name, _, value in parts if name.strip() == "t"]
    if len(timestamps) != 1:
        raise WebhookVerificationError("Invalid X-Webhook-Signature header.")
    timestamp = _fresh(timestamps[0], tolerance, now)
    expected = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    for name, _, value in parts:
        given = value.strip().encode("utf-8", errors="replace")
        if name.strip() == "v1" and hmac.compare_digest(given, expected.encode()):
            return
    raise WebhookVerificationError("No matching signature.")
