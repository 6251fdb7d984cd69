"""The development Redis for tests, and a key prefix per test that is removed when it ends.

The server is ``MEDIASTUDIO_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``, the Redis of the
development machine and of CI). When it cannot be reached the tests that need it skip with the
reason, except under ``CI=true``, where they fail: CI has the server, so its absence is a broken
CI, not a reason to test less (the same rule as tests/postgres.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("MEDIASTUDIO_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _where(url: str) -> str:
    return url.partition("://")[2].rpartition("@")[2].partition("/")[0] or url


def require_redis(url: str = REDIS_URL) -> None:
    """Skip (or, under CI, fail) unless Redis answers a PING."""
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
            client.ping()
    except Exception as exc:  # redis' errors, OSError, a timeout
        reason = f"Redis is not reachable at {_where(url)}: {type(exc).__name__}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def delete_prefixed(prefix: str, url: str = REDIS_URL) -> int:
    """Delete every key under ``prefix``; how many there were."""
    import redis

    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        return len(keys)


def count_prefixed(prefix: str, url: str = REDIS_URL) -> int:
    import redis

    with redis.Redis.from_url(url) as client:
        return sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=500))


def unique_prefix() -> Iterator[str]:
    """For a fixture: a key prefix no other test (or deployment) uses; its keys are deleted
    afterwards."""
    require_redis()
    prefix = f"mstest:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        delete_prefixed(prefix)
