"""Per-key rate limits on the ``limits`` library, behind a small interface.

The storage comes from a URI (``memory://`` for one process; ``redis://…`` when many API processes
must share counters), so the distributed deployment changes a setting, not code. The moving-window
strategy is exact: no burst of twice the limit across a window edge.

With Redis, every key carries a prefix per deployment, so two MediaStudios on one Redis never
share a window. An unreachable Redis at start-up stops the server (a wrong URL is caught when it
is deployed); Redis failing later *fails open*: the request goes through unlimited and a warning
is logged once per outage, because a limiter whose store is down must not take the whole API
down with it (docs/deployment.md#redis).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse, storage
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_time: float

    @property
    def reset_at(self) -> int:
        return math.ceil(self.reset_time)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_time - time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


@lru_cache(maxsize=256)
def _parse(expression: str) -> RateLimitItem:
    return parse(expression)


def validate_expression(expression: str) -> None:
    """Raise ValueError for a limit string the ``limits`` library cannot parse."""
    _parse(expression)


logger = logging.getLogger("mediastudio.ratelimit")

_REDIS_SCHEMES = ("redis://", "rediss://", "redis+unix://")
# Seconds one Redis command may take before the request goes through unlimited (fail open): a
# hung Redis must not hang every request behind it.
_REDIS_TIMEOUT_S = 1.0


class RateLimitStoreUnreachable(RuntimeError):
    """The limiter's store did not answer at start-up."""


def redacted(uri: str) -> str:
    """The storage URI without its password, for logs and errors."""
    scheme, sep, rest = uri.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return uri
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


class RateLimiter:
    def __init__(self, storage_uri: str = "memory://", *, key_prefix: str = "mediastudio") -> None:
        self.storage_uri = storage_uri
        bare = storage_uri.removeprefix("async+")
        options: dict[str, str | float | bool] = {}
        if bare.startswith(_REDIS_SCHEMES):
            # redis-py's asyncio client (the ``redis`` extra) rather than limits' default coredis:
            # the official client, and the one the event bus will share.
            options = {
                "implementation": "redispy",
                "key_prefix": key_prefix,
                "socket_timeout": _REDIS_TIMEOUT_S,
                "socket_connect_timeout": _REDIS_TIMEOUT_S,
                "wrap_exceptions": True,
            }
        made = storage.storage_from_string(f"async+{bare}", **options)
        assert isinstance(made, AsyncStorage)  # an async+ scheme always makes an async storage
        self._storage = made
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._down = False

    async def ensure_reachable(self) -> None:
        """Raise :class:`RateLimitStoreUnreachable` with the reason when the store does not
        answer a ping (start-up: a wrong Redis URL stops the server instead of every limit
        silently failing open)."""
        try:
            healthy = await self._storage.check()
        except Exception as exc:  # the client's own errors, timeouts, DNS
            healthy, reason = False, repr(exc)
        else:
            reason = "no answer to PING"
        if not healthy:
            raise RateLimitStoreUnreachable(
                f"Rate-limit storage {redacted(self.storage_uri)} is not reachable ({reason}); "
                "check MEDIASTUDIO_RATE_LIMIT_STORAGE."
            )

    async def hit(self, expression: str, *identity: str) -> Decision | None:
        """Count one hit. ``None`` when the store failed: the caller lets the request through
        without rate-limit headers (fail open, logged once per outage)."""
        item = _parse(expression)
        try:
            allowed = await self._strategy.hit(item, *identity)
            stats = await self._strategy.get_window_stats(item, *identity)
        except StorageError as exc:
            if not self._down:
                self._down = True
                logger.warning(
                    "rate-limit storage %s failed (%r): requests are not rate limited until it "
                    "answers again",
                    redacted(self.storage_uri),
                    exc.storage_error,
                )
            return None
        if self._down:
            self._down = False
            logger.warning("rate-limit storage %s answers again", redacted(self.storage_uri))
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_time=stats.reset_time,
        )


# Where authentication leaves its Decision in the request's state, for the edge middleware
# (kit/edge.py) to add the ``X-RateLimit-*`` headers to whatever response the route produces.
STATE_KEY = "rate_limit"
