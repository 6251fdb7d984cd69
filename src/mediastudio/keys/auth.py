"""FastAPI dependencies that authenticate a request and say which scope a route needs.

Only ``Authorization: Bearer <key>`` is accepted (seed 004): keys in query strings, ``x-api-key``
headers or cookies are refused, so they never end up in access logs or browser storage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mediastudio.keys import service
from mediastudio.keys.principal import Principal
from mediastudio.keys.service import ensure_scope
from mediastudio.kit.clock import utcnow
from mediastudio.kit.errors import MissingApiKey, RateLimited
from mediastudio.kit.ratelimit import STATE_KEY
from mediastudio.platform import Platform, get_platform

bearer = HTTPBearer(auto_error=False, description="Your API key: ms_live_… or ms_test_…")

_ONLY_BEARER = "API keys are accepted only as 'Authorization: Bearer <key>'."


async def authenticate(
    request: Request,
    platform: Annotated[Platform, Depends(get_platform)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        smuggled = "api_key" in request.query_params or "x-api-key" in request.headers
        raise MissingApiKey(_ONLY_BEARER if smuggled else None)
    now = utcnow()
    client_ip = request.client.host if request.client else None
    async with platform.db.read() as session:
        key, account = await service.authenticate(session, credentials.credentials, client_ip, now)
    if service.needs_touch(key, now):
        async with platform.db.write() as session:
            await service.touch(session, key.id, now)
    principal = Principal(
        account_id=account.id,
        key_id=key.id,
        sandbox=key.sandbox,
        scopes=frozenset(key.scopes),
        plan_name=account.plan,
        plan=platform.settings.plan(account.plan),
    )
    await _limit(request, platform, principal.plan.rate_limit, principal.key_id, "general")
    return principal


async def _limit(
    request: Request, platform: Platform, expression: str | None, key_id: str, bucket: str
) -> None:
    if expression is None:
        return
    decision = await platform.limiter.hit(expression, bucket, key_id)
    request.state.__setattr__(STATE_KEY, decision)
    if not decision.allowed:
        raise RateLimited(
            details={"limit": decision.limit, "reset": decision.reset_at},
            headers={"Retry-After": str(decision.retry_after)},
        )


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> Principal:
        ensure_scope(principal, scope)
        return principal

    return dependency


async def generation_limited(
    request: Request,
    platform: Annotated[Platform, Depends(get_platform)],
    principal: Annotated[Principal, Depends(authenticate)],
) -> Principal:
    """The stricter per-key limit on creating jobs (seed 001: 5 per 10 s by default)."""
    expression = principal.plan.generation_rate_limit
    await _limit(request, platform, expression, principal.key_id, "generate")
    return principal


def generating(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        principal: Annotated[Principal, Depends(generation_limited)],
    ) -> Principal:
        ensure_scope(principal, scope)
        return principal

    return dependency


AnyPrincipal = Annotated[Principal, Depends(authenticate)]
ReadPrincipal = Annotated[Principal, Depends(require("read"))]
CreatingPrincipal = Annotated[Principal, Depends(generation_limited)]
