"""Payload bytes and signatures.

The payload is serialised once, as the bytes JavaScript's ``JSON.stringify`` would produce for
the same value: compact, non-ASCII characters as themselves, numbers written the way JavaScript
writes them (``3`` not ``3.0``, ``1e-7`` not ``1e-07``), object keys in JavaScript's order
(integer-like keys first). So a receiver that verifies ``JSON.stringify(JSON.parse(body))``, as
seed 000's Node example does, computes the same bytes we signed.

Every delivery carries two signature schemes over those bytes:

- Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64
  HMAC-SHA256(key, "id.timestamp.body")>`` where the key is the base64 part of ``whsec_…``.
- Seed 000: ``X-Webhook-Signature: t=<timestamp>,v1=<hex HMAC-SHA256(secret, "t.body")>`` where
  the key is the whole secret string, as the seed's snippet passes it to ``createHmac``.

While a rotated-out secret still signs, each scheme carries one signature per secret, the newest
first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (the Standard Webhooks format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks scheme: the decoded base64 after ``whsec_``."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def serialise(value: Any) -> bytes:
    """Compact UTF-8 JSON, byte for byte what ``JSON.stringify`` writes for the same value."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("utf-8")


_SAFE_INTEGER = 2**53


def _integer(value: int) -> str:
    """An integer as JavaScript sees it: beyond 2^53 ``JSON.parse`` rounds it to a double, so a
    receiver that re-serialises (seed 000's verifier does) gets the rounded form; send that."""
    if -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
        return str(value)
    try:
        return js_number(float(value))
    except OverflowError:
        return "null"  # JSON.stringify(Infinity)


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(_integer(value))
    elif isinstance(value, float):
        out.append(js_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, key in enumerate(_js_key_order([str(k) for k in value])):
            if index:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")


def _string(text: str) -> str:
    # json.dumps escapes exactly what JSON.stringify escapes ('"', '\\', control characters,
    # with the same short forms), except lone surrogates, which it leaves raw and JavaScript
    # writes as lowercase \udxxx.
    encoded = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)


def _js_key_order(keys: list[str]) -> list[str]:
    """JavaScript objects list array-index keys first, ascending, then the rest in order."""
    indexes = [k for k in keys if _ARRAY_INDEX.fullmatch(k) and int(k) < 2**32 - 1]
    if not indexes:
        return keys
    chosen = set(indexes)
    return sorted(indexes, key=int) + [k for k in keys if k not in chosen]


def js_number(value: float) -> str:
    """``Number.prototype.toString`` for a float: shortest round-trip digits (as Python's repr),
    laid out with JavaScript's thresholds. NaN and infinities are ``null`` in JSON.stringify."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction.rstrip("0")).lstrip("0") or "0"
    # The value is 0.DIGITS * 10**point: find point from the repr's layout.
    if whole != "0":
        point = len(whole.lstrip("0")) + (int(exp_text) if exp_text else 0)
    else:
        point = -(len(fraction) - len(fraction.lstrip("0"))) + (int(exp_text) if exp_text else 0)
    digits = digits.rstrip("0") or "0"
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exponent = point - 1
    head = digits[0] + ("." + digits[1:] if count > 1 else "")
    return f"{sign}{head}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def standard_signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def seed_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_headers(
    event_id: str, timestamp: int, body: bytes, secrets_: Sequence[str]
) -> dict[str, str]:
    """Both schemes' headers, one signature per secret (the newest first)."""
    if not secrets_:
        raise ValueError("at least one secret signs a delivery")
    standard = " ".join(standard_signature(s, event_id, timestamp, body) for s in secrets_)
    seed = ",".join(f"v1={seed_signature(s, timestamp, body)}" for s in secrets_)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard,
        "X-Webhook-Signature": f"t={timestamp},{seed}",
    }
