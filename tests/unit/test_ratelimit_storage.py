"""The rate limiter's storage: Redis windows under a prefix per deployment, a clear error when
Redis does not answer at start-up, and failing open (logged) when it stops answering later."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediastudio.kit.ratelimit import RateLimiter, RateLimitStoreUnreachable, redacted
from mediastudio.settings import Settings
from tests.redis_server import REDIS_URL, count_prefixed, unique_prefix

# Nothing listens on port 1 of the loopback: connections are refused at once.
DEAD_REDIS = "redis://:secret@127.0.0.1:1/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    yield from unique_prefix()


def test_key_prefix_follows_the_database(tmp_path: Path) -> None:
    one = Settings(data_dir=tmp_path / "one").resolved_rate_limit_key_prefix()
    same = Settings(data_dir=tmp_path / "one").resolved_rate_limit_key_prefix()
    other = Settings(data_dir=tmp_path / "two").resolved_rate_limit_key_prefix()
    assert one == same != other
    assert one.startswith("mediastudio:")
    rotated = [
        Settings(database_url=f"postgresql://app:{password}@db/ms").resolved_rate_limit_key_prefix()
        for password in ("old", "new")
    ]
    assert rotated[0] == rotated[1]  # a new password is the same deployment
    explicit = Settings(data_dir=tmp_path, rate_limit_key_prefix="eu-prod")
    assert explicit.resolved_rate_limit_key_prefix() == "eu-prod"


def test_redacted_hides_only_the_password() -> None:
    assert redacted("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert redacted(DEAD_REDIS) == "redis://:***@127.0.0.1:1/0"
    assert redacted("redis://host:6379/0") == "redis://host:6379/0"
    assert redacted("memory://") == "memory://"


async def test_redis_windows_are_shared_and_prefixed(redis_prefix: str) -> None:
    # Two limiters stand for two processes: one window between them, under the prefix only.
    first = RateLimiter(REDIS_URL, key_prefix=redis_prefix)
    second = RateLimiter(REDIS_URL, key_prefix=redis_prefix)
    other_deployment = RateLimiter(REDIS_URL, key_prefix=f"{redis_prefix}-other")
    await first.ensure_reachable()

    decisions = [await (first, second)[i % 2].hit("3/minute", "general", "key_a") for i in range(4)]
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert [d.remaining for d in decisions if d] == [2, 1, 0, 0]
    fresh = await other_deployment.hit("3/minute", "general", "key_a")
    assert fresh is not None and fresh.allowed and fresh.remaining == 2
    assert count_prefixed(redis_prefix) >= 1


async def test_unreachable_redis_is_a_clear_startup_error() -> None:
    limiter = RateLimiter(DEAD_REDIS)
    with pytest.raises(RateLimitStoreUnreachable) as raised:
        await limiter.ensure_reachable()
    assert "redis://:***@127.0.0.1:1/0 is not reachable" in str(raised.value)
    assert "secret" not in str(raised.value)


async def test_redis_going_down_fails_open_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter(DEAD_REDIS)
    with caplog.at_level(logging.WARNING, logger="mediastudio.ratelimit"):
        decisions = [await limiter.hit("1/minute", "general", "key_a") for _ in range(3)]
    assert decisions == [None, None, None]  # let through, no headers
    warnings = [r.getMessage() for r in caplog.records if r.name == "mediastudio.ratelimit"]
    assert len(warnings) == 1, warnings  # once per outage, not once per request
    assert "not rate limited" in warnings[0] and "secret" not in warnings[0]


async def test_memory_store_needs_no_server() -> None:
    limiter = RateLimiter("memory://")
    await limiter.ensure_reachable()
    decision = await limiter.hit("1/minute", "general", "key_a")
    assert decision is not None and decision.allowed
