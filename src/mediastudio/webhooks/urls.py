"""Checking a webhook URL before accepting it: the SSRF rules every delivery applies again."""

from __future__ import annotations

import asyncio
import ipaddress

from mediastudio.kit.errors import InvalidRequest
from mediastudio.kit.fetch import FetchError, NetPolicy, check_url, resolve, resolve_async


def check_without_dns(url: str, policy: NetPolicy, *, field: str) -> str:
    """Scheme, credentials, host form and, for an address literal, the address itself: all that
    can be refused without a DNS lookup (for the job create path, which does no I/O)."""
    try:
        target = check_url(url, policy)
        try:
            ipaddress.ip_address(target.host)
        except ValueError:
            pass  # a name: checked after resolution, at every delivery
        else:
            resolve(target.host, target.port, policy)  # a literal: no lookup happens
    except FetchError as exc:
        raise _invalid(field, exc) from exc
    return str(target.url)


async def check_resolving(url: str, policy: NetPolicy, *, field: str) -> str:
    """Everything above plus every address the name resolves to now."""
    try:
        target = check_url(url, policy)
        async with asyncio.timeout(policy.total_timeout_s):
            await resolve_async(target.host, target.port, policy)
    except FetchError as exc:
        raise _invalid(field, exc) from exc
    except TimeoutError:
        raise InvalidRequest(
            f"{field}: the name did not resolve in time.",
            details={"fields": [{"field": field, "message": "DNS timeout", "type": "url_refused"}]},
        ) from None
    return str(target.url)


def _invalid(field: str, exc: FetchError) -> InvalidRequest:
    return InvalidRequest(
        f"{field}: {exc}",
        details={"fields": [{"field": field, "message": str(exc), "type": "url_refused"}]},
    )
