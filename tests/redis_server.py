"""The development Redis for tests, and a key prefix per test that is removed when it ends.

The server is ``MEDIASTUDIO_TEST_REDIS`` (default ``redis://127.0.0.1:6379/0``, the Redis of the
development machine and of CI). When it cannot be reached the tests that need it skip with the
reason, except under ``CI=true``, where they fail: CI has the server, so its absence is a broken
CI, not a reason to test less (the same rule as tests/postgres.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS_URL = os.environ.get("MEDIASTUDIO_TEST_REDIS", "redis://127.0.0.1:6379/0")


START_TIMEOUT_S = 30.0


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _where(url: str) -> str:
    return url.partition("://")[2].rpartition("@")[2].partition("/")[0] or url


def require_redis(url: str = REDIS_URL) -> None:
    """Skip (or, under CI, fail) unless Redis answers a PING."""
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
            client.ping()
    except Exception as exc:  # redis' errors, OSError, a timeout
        _fail_or_skip(f"Redis is not reachable at {_where(url)}: {type(exc).__name__}: {exc}")


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


class PrivateRedis:
    """A ``redis-server`` of one test's own, on a free loopback port, that the test may stop and
    start again (the development Redis is shared, so it cannot be restarted). Nothing is saved
    to disk: a restart loses every key, the worst a broker or event bus restart can do.
    Without the ``redis-server`` binary the test skips, except under ``CI=true``."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _fail_or_skip("redis-server is not installed (Debian's redis-server package)")
        self.binary = str(binary)
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start it on its port and wait until it answers PING."""
        import redis

        assert self.process is None, "stop it first"
        self.starts += 1
        log = (self.folder / f"redis-{self.starts}.log").open("wb")
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with redis.Redis.from_url(self.url(), socket_connect_timeout=1) as client:
                    client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients) and wait until it is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.folder.glob("redis-*.log"))
        )
