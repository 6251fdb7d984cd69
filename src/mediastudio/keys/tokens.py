"""Short-lived event tokens: a way to authenticate where a client cannot send headers.

Browsers cannot set ``Authorization`` on a WebSocket or an ``EventSource``. A client holding an
API key asks ``POST /api/v1/ws/token`` for a token valid for ``ws_token_ttl_s`` seconds (60 by
default) and passes it as ``?token=``. The token names the key and its expiry and is signed with
HMAC-SHA256 under the server's secret (with its own context string, so no other signature of
this server is ever a valid token); the key itself is checked again (revoked, expired, IP
allowlist, scopes) when the token is used. A token only opens event streams, never other routes,
and it is not the key: leaking one into a log exposes a minute of read-only events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from mediastudio.kit.errors import ExpiredApiKey, InvalidApiKey

PREFIX = "mstok_"
_CONTEXT = b"mediastudio event token v1\x00"
_SHAPE = re.compile(r"^mstok_(key_[0-9a-z]{26})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


def issue(secret: bytes, key_id: str, expires_at: int) -> str:
    return f"{PREFIX}{key_id}.{expires_at}.{_sign(secret, key_id, expires_at)}"


def verify(secret: bytes, token: str, now: float) -> str:
    """The key id the token was issued for; raises if it is malformed, forged or expired."""
    match = _SHAPE.match(token)
    if match is None:
        raise InvalidApiKey("The event token is malformed.")
    key_id, expires_at = match.group(1), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _sign(secret, key_id, expires_at)):
        raise InvalidApiKey("The event token is invalid.")
    if expires_at <= now:
        raise ExpiredApiKey("The event token has expired; ask POST /api/v1/ws/token for another.")
    return key_id


def _sign(secret: bytes, key_id: str, expires_at: int) -> str:
    digest = hmac.new(secret, _CONTEXT + f"{key_id}.{expires_at}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
