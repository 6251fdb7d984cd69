"""The development RabbitMQ for tests, and a queue prefix per test whose queues are deleted when
it ends.

The server is ``MEDIASTUDIO_TEST_RABBITMQ`` (default ``amqp://guest:guest@127.0.0.1:5672//``, the
broker of the development machine and of CI). When it cannot be reached the tests that need it
skip with the reason, except under ``CI=true``, where they fail: CI has the server, so its
absence is a broken CI, not a reason to test less (the same rule as tests/postgres.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

RABBITMQ_URL = os.environ.get("MEDIASTUDIO_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
POOLS = ("cpu", "gpu", "io", "remote")


def _where(url: str) -> str:
    return url.partition("://")[2].rpartition("@")[2].partition("/")[0] or url


def require_rabbitmq(url: str = RABBITMQ_URL) -> None:
    """Skip (or, under CI, fail) unless the broker accepts a connection."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu's and amqp's errors, OSError, a timeout
        reason = f"RabbitMQ is not reachable at {_where(url)}: {type(exc).__name__}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def delete_queues(prefix: str, url: str = RABBITMQ_URL) -> None:
    """Delete the pools' queues under ``prefix`` (and the exchanges Celery made for them)."""
    from kombu import Connection

    with Connection(url, connect_timeout=2) as connection:
        channel = connection.default_channel
        for pool in POOLS:
            channel.queue_delete(f"{prefix}{pool}")
            channel.exchange_delete(f"{prefix}{pool}")


def unique_prefix() -> Iterator[str]:
    """For a fixture: a queue prefix no other test (or deployment) uses; its queues are deleted
    afterwards."""
    require_rabbitmq()
    prefix = f"mstest.{os.getpid()}.{uuid.uuid4().hex[:12]}."
    try:
        yield prefix
    finally:
        delete_queues(prefix)
