"""Rate limits across API processes: two real ``mediastudio serve`` processes on one data
directory. With Redis they share one window per key (exactly the plan's limit succeeds, whichever
process answers); with the memory store each process counts alone, which is why a deployment of
several processes needs Redis (docs/deployment.md#redis)."""

from __future__ import annotations

import signal

import httpx

from tests.e2e.server import ServerProcess, auth
from tests.redis_server import REDIS_URL, count_prefixed

LIMIT = 5
EMAIL = "limited@example.com"


def _env(storage: str, prefix: str | None = None) -> dict[str, str | None]:
    return {
        "MEDIASTUDIO_RATE_LIMIT_STORAGE": storage,
        "MEDIASTUDIO_RATE_LIMIT_KEY_PREFIX": prefix,
        # The general per-key limit of the account's plan, small enough to exhaust.
        "MEDIASTUDIO_PLANS__FREE__RATE_LIMIT": f"{LIMIT}/minute",
    }


def _start_both(pair: list[ServerProcess], env: dict[str, str | None]) -> str:
    first, second = pair
    key = first.start_with_account(env, email=EMAIL, credits=0, plan="free")
    second.start(env)
    return key


def _alternate(pair: list[ServerProcess], key: str, count: int) -> list[httpx.Response]:
    """``count`` authenticated requests, first process, second, first… (in order)."""
    responses = []
    with httpx.Client(timeout=30.0) as http:
        for index in range(count):
            server = pair[index % 2]
            responses.append(http.get(f"{server.base_url}/api/v1/account", headers=auth(key)))
    return responses


def test_redis_shares_one_window_between_processes(
    pair: list[ServerProcess], redis_prefix: str
) -> None:
    key = _start_both(pair, _env(REDIS_URL, redis_prefix))

    responses = _alternate(pair, key, 2 * LIMIT + 2)

    statuses = [r.status_code for r in responses]
    assert statuses == [200] * LIMIT + [429] * (LIMIT + 2), statuses
    # The remaining count goes down across both processes: one window, not two.
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses[:LIMIT]]
    assert remaining == list(range(LIMIT - 1, -1, -1)), remaining
    for refused in responses[LIMIT:]:
        assert refused.json()["error"]["code"] == "rate_limited", refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["X-RateLimit-Limit"] == str(LIMIT)
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert int(refused.headers["X-RateLimit-Reset"]) > 0
    # The counters live under this deployment's prefix, nowhere else.
    assert count_prefixed(redis_prefix) >= 1


def test_memory_store_counts_in_each_process(pair: list[ServerProcess]) -> None:
    key = _start_both(pair, _env("memory://"))

    responses = _alternate(pair, key, 2 * LIMIT + 2)

    by_process = [[r.status_code for r in responses[i::2]] for i in range(2)]
    # Each process lets the full limit through: twice the plan's limit in total.
    assert by_process == [[200] * LIMIT + [429]] * 2, by_process
    assert sum(r.status_code == 200 for r in responses) == 2 * LIMIT


def test_unreachable_redis_stops_the_server_at_start(server: ServerProcess) -> None:
    # Port 1 on the loopback: nothing listens there, so the connection is refused at once.
    server.start({"MEDIASTUDIO_RATE_LIMIT_STORAGE": "redis://:hunter2@127.0.0.1:1/0"}, wait=False)
    assert server.process is not None
    code = server.process.wait(60)
    log = server.current_log()
    server.stop(signal.SIGKILL)
    assert code != 0, log
    assert "Rate-limit storage redis://:***@127.0.0.1:1/0 is not reachable" in log, log
    assert "hunter2" not in log
