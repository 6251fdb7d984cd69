"""FastAPI dependencies that authenticate a request and say which scope a route needs.

Only ``Authorization: Bearer <key>`` is accepted (seed 004): keys in query strings, ``x-api-key``
headers or cookies are refused, so they never end up in access logs or browser storage. Event
streams (SSE, WebSocket) also accept a short-lived signed token as ``?token=`` (keys/tokens.py),
because browsers cannot set headers on them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mediastudio.keys import service, tokens
from mediastudio.keys.principal import Principal
from mediastudio.keys.repository import Credentials
from mediastudio.keys.service import GENERATE_SCOPES, ensure_any_scope, ensure_scope
from mediastudio.kit.clock import utcnow
from mediastudio.kit.disk import is_disk_full
from mediastudio.kit.errors import MissingApiKey, RateLimited
from mediastudio.kit.ratelimit import STATE_KEY
from mediastudio.platform import Platform, get_platform

logger = logging.getLogger("mediastudio.keys")
bearer = HTTPBearer(auto_error=False, description="Your API key: ms_live_… or ms_test_…")

_ONLY_BEARER = "API keys are accepted only as 'Authorization: Bearer <key>'."


def _platform(request: Request) -> Platform:
    """The app's platform, read directly: every authenticated route runs this dependency, and a
    ``Depends(get_platform)`` here would be one more dependency for FastAPI to solve (and look up
    in its per-request cache) on every request."""
    platform: Platform = request.app.state.platform
    return platform


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    return await _authenticate(request, _platform(request), credentials)


async def _authenticate(
    request: Request, platform: Platform, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None or not credentials.credentials:
        smuggled = "api_key" in request.query_params or "x-api-key" in request.headers
        raise MissingApiKey(_ONLY_BEARER if smuggled else None)
    client_ip = request.client.host if request.client else None
    principal = await principal_for(platform, client_ip, secret=credentials.credentials)
    await _limit(request, platform, principal.plan.rate_limit, principal.key_id, "general")
    return principal


async def principal_for(
    platform: Platform, client_ip: str | None, *, secret: str | None = None, token: str = ""
) -> Principal:
    """Who an API key (``secret``) or an event token is; raises the precise refusal."""
    now = utcnow()
    key_hash = None
    if secret is not None:
        key_hash = service.hash_secret(secret)
        key = await _by_secret(platform, secret, key_hash, client_ip, now)
    else:
        async with platform.db.read() as session:
            key_id = tokens.verify(platform.settings.signing_key(), token, now.timestamp())
            key = await service.authenticate_id(session, key_id, client_ip, now)
    if service.needs_touch(key, now) and await _touch(platform, key.id, now) and key_hash:
        platform.key_cache.touched(key_hash, now)
    return Principal(
        account_id=key.account_id,
        key_id=key.id,
        sandbox=key.sandbox,
        scopes=frozenset(key.scopes),
        plan_name=key.plan,
        plan=platform.settings.plan(key.plan),
    )


async def _by_secret(
    platform: Platform, secret: str, key_hash: str, client_ip: str | None, now: datetime
) -> Credentials:
    """The key from the key cache while nothing changed (keys/cache.py), else the database."""
    cache = platform.key_cache
    version = cache.version()  # before the row: see keys/cache.py
    cached = cache.get(key_hash, version)
    if cached is not None:
        service.check_usable(cached, client_ip, now)
        return cached
    async with platform.db.read() as session:
        key = await service.authenticate(session, secret, client_ip, now)
    cache.put(key_hash, key, version)
    return key


async def recheck_reader(platform: Platform, principal: Principal, client_ip: str | None) -> None:
    """Raise the refusal if the key behind an open stream may no longer read: revoked, expired,
    its IP allowlist or its scopes changed. One indexed read; the database is the truth, so a
    key revoked through any process ends the streams of every process."""
    now = utcnow()
    async with platform.db.read() as session:
        key = await service.authenticate_id(session, principal.key_id, client_ip, now)
    ensure_scope(replace(principal, scopes=frozenset(key.scopes)), "read")


async def _touch(platform: Platform, key_id: str, now: datetime) -> bool:
    """Record the key's use; whether it was saved. A hint for people: a full disk must not turn
    every read into an error, so a write that finds no room is skipped (the next request tries
    again)."""
    try:
        async with platform.db.write() as session:
            await service.touch(session, key_id, now)
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        logger.debug("last_used_at of %s not saved: %s", key_id, exc)
        return False
    return True


async def authenticate_stream(
    request: Request,
    platform: Annotated[Platform, Depends(get_platform)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    token: Annotated[
        str | None,
        Query(max_length=200, description="A token from POST /api/v1/ws/token, for browsers"),
    ] = None,
) -> Principal:
    """An event stream's caller: the Bearer key, or else a short-lived ``?token=``."""
    if credentials is not None or not token:
        return await _authenticate(request, platform, credentials)
    client_ip = request.client.host if request.client else None
    principal = await principal_for(platform, client_ip, token=token)
    await _limit(request, platform, principal.plan.rate_limit, principal.key_id, "general")
    return principal


async def stream_reader(
    principal: Annotated[Principal, Depends(authenticate_stream)],
) -> Principal:
    ensure_scope(principal, "read")
    return principal


async def _limit(
    request: Request, platform: Platform, expression: str | None, key_id: str, bucket: str
) -> None:
    if expression is None:
        return
    decision = await platform.limiter.hit(expression, bucket, key_id)
    if decision is None:  # the store is down: fail open (kit/ratelimit.py)
        return
    request.state.__setattr__(STATE_KEY, decision)
    if not decision.allowed:
        raise RateLimited(
            details={"limit": decision.limit, "reset": decision.reset_at},
            headers={"Retry-After": str(decision.retry_after)},
        )


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A route that needs ``scope``; checked before anything else the route does."""

    async def dependency(
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> Principal:
        ensure_scope(principal, scope)
        return principal

    return dependency


async def controlling(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """Uploading inputs and controlling jobs: any ``generate:*`` scope (the job's own kind is
    checked again against the job)."""
    ensure_any_scope(principal, GENERATE_SCOPES)
    return principal


async def _limit_generation(request: Request, platform: Platform, principal: Principal) -> None:
    """The stricter per-key limit on creating jobs (seed 001: 5 per 10 s by default)."""
    expression = principal.plan.generation_rate_limit
    await _limit(request, platform, expression, principal.key_id, "generate")


async def creating(
    request: Request, principal: Annotated[Principal, Depends(controlling)]
) -> Principal:
    """Creating a job of a kind known only from its body: any ``generate:*`` scope now, the
    model's own scope once the body names it. The scope is checked before the rate limit, so a
    refused request costs the key nothing."""
    await _limit_generation(request, _platform(request), principal)
    return principal


def generating(scope: str) -> Callable[..., Awaitable[Principal]]:
    """Creating a job of one kind: its ``generate:*`` scope, then the generation rate limit."""

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(authenticate)]
    ) -> Principal:
        ensure_scope(principal, scope)
        await _limit_generation(request, _platform(request), principal)
        return principal

    return dependency


ReadPrincipal = Annotated[Principal, Depends(require("read"))]
WebhooksPrincipal = Annotated[Principal, Depends(require("webhooks"))]
StreamPrincipal = Annotated[Principal, Depends(stream_reader)]
ControllingPrincipal = Annotated[Principal, Depends(controlling)]
CreatingPrincipal = Annotated[Principal, Depends(creating)]
