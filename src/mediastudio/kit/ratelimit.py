"""Per-key rate limits on the ``limits`` library, behind a small interface.

The storage comes from a URI (``memory://`` now; ``redis://…`` when many API processes must share
counters), so the distributed deployment changes a setting, not code. The moving-window strategy
is exact: no burst of twice the limit across a window edge.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse, storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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


class RateLimiter:
    def __init__(self, storage_uri: str = "memory://") -> None:
        scheme = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._strategy = MovingWindowRateLimiter(storage.storage_from_string(scheme))

    async def hit(self, expression: str, *identity: str) -> Decision:
        item = _parse(expression)
        allowed = await self._strategy.hit(item, *identity)
        stats = await self._strategy.get_window_stats(item, *identity)
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_time=stats.reset_time,
        )


class RateLimitHeadersMiddleware:
    """Adds the ``X-RateLimit-*`` headers that authentication stored in the request's state to
    whatever response the route produces (JSON, error, replay or stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get(STATE_KEY)
                if decision is not None:
                    extra = [
                        (k.lower().encode(), v.encode()) for k, v in decision.headers().items()
                    ]
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


STATE_KEY = "rate_limit"
