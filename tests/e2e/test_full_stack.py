"""The whole distributed stack at once, as deploy/compose.yaml runs it: two API processes
(``serve --no-workers``) and two worker processes on one PostgreSQL database, jobs carried by
RabbitMQ, live events and rate limits shared through Redis, outputs in an S3 bucket (SeaweedFS).

The two API processes share a data directory only for the secret key that signs output URLs
(compose gives every process ``MEDIASTUDIO_SECRET_KEY`` instead); nothing else of theirs is on
disk. What a user sees: a job created on A is visible from B, streamed from B to ``completed``
and downloaded through B; a job created on B is cancelled through A and the worker running it
stops (refunded); one rate-limit window for A and B; one Idempotency-Key sent to both at once
makes one job. One test, because starting the four processes is most of its time.
"""

from __future__ import annotations

import asyncio
import io
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import FAILED
from tests.e2e.server import (
    ServerProcess,
    assert_books_balanced,
    auth,
    entries_for,
    wait_for,
)
from tests.e2e.test_distributed import WorkerProcess, stored
from tests.live_server import Sse, read_sse
from tests.postgres import PostgresServer
from tests.rabbitmq_server import RABBITMQ_URL, require_rabbitmq
from tests.rabbitmq_server import unique_prefix as unique_queue_prefix
from tests.redis_server import REDIS_URL, count_prefixed
from tests.s3_server import S3Server

pytestmark = [
    pytest.mark.e2e,
    # It builds its own distributed deployment (database, broker, storage, workers); under the
    # switch the suite's deployment settings would be mixed into its processes' environment.
    pytest.mark.embedded_only(reason="sets up a distributed deployment of its own"),
]

LIMIT = 5  # the free plan's general per-key limit here: small enough to exhaust
IMAGE = {"prompt": "a lighthouse [slow:1]", "model": "fake/image", "width": 256, "height": 256}
SLOW = {"prompt": "a tower [slow:120]", "model": "fake/image"}
QUICK = {"prompt": "a boat", "model": "fake/image"}


class Stack:
    """Two API processes and two workers on one set of services."""

    def __init__(self, root: Path) -> None:
        self.a, self.b = ServerProcess(root / "a"), ServerProcess(root / "b")
        for process in (self.a, self.b):
            process.root.mkdir()
        self.b.data_dir = self.a.data_dir
        self.workers: list[WorkerProcess] = []
        self.storage_prefix = f"stack-{uuid.uuid4().hex}"


@pytest.fixture
def queue_prefix() -> Iterator[str]:
    yield from unique_queue_prefix()


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_server: PostgresServer,
    s3_server: S3Server,
    redis_prefix: str,
    queue_prefix: str,
) -> Iterator[Stack]:
    """Every process configured (none started); all of them stopped afterwards, and their logs
    printed when the test failed. Redis keys and queues go after the processes stopped."""
    require_rabbitmq()
    name, database = postgres_server.create()
    stack = Stack(tmp_path)
    s3 = s3_server.settings(stack.storage_prefix)
    storage = s3["storage"]
    env = {
        "MEDIASTUDIO_DATABASE_URL": database,
        "MEDIASTUDIO_BROKER_URL": RABBITMQ_URL,
        "MEDIASTUDIO_BROKER_QUEUE_PREFIX": queue_prefix,
        "MEDIASTUDIO_REDIS_URL": REDIS_URL,
        "MEDIASTUDIO_REDIS_KEY_PREFIX": redis_prefix,
        "MEDIASTUDIO_RATE_LIMIT_KEY_PREFIX": redis_prefix,
        "MEDIASTUDIO_EVENTS_HEARTBEAT_S": "0.5",
        "MEDIASTUDIO_PLANS__FREE__RATE_LIMIT": f"{LIMIT}/minute",
        "MEDIASTUDIO_STORAGE_URL": s3["storage_url"],
        "MEDIASTUDIO_STORAGE__ENDPOINT_URL": storage["endpoint_url"],
        "MEDIASTUDIO_STORAGE__ACCESS_KEY_ID": storage["access_key_id"],
        "MEDIASTUDIO_STORAGE__SECRET_ACCESS_KEY": storage["secret_access_key"],
        "MEDIASTUDIO_STORAGE__ADDRESSING_STYLE": "path",
    }
    for process in (stack.a, stack.b):
        process.env = env
        process.args = ("--no-workers",)
    try:
        yield stack
    finally:
        for worker in stack.workers:
            worker.stop(signal.SIGKILL)
        for process in (stack.a, stack.b):
            process.stop()
        if request.node.stash.get(FAILED, False):
            for process in (stack.a, stack.b):
                print(process.logs())
            for worker in stack.workers:
                print(f"----- {worker.log_path.name} -----\n{worker.log()}")
        postgres_server.drop(name)


async def _stream(http: httpx.AsyncClient, url: str, key: str) -> list[Sse]:
    """A generation's whole event stream (it ends after the final event), comments left out."""
    received: list[Sse] = []
    async with asyncio.timeout(30):
        async with http.stream("GET", url, headers=auth(key)) as response:
            assert response.status_code == 200, await response.aread()
            async for event in read_sse(response):
                if event.event != ":":
                    received.append(event)
    return received


async def test_two_apis_and_two_workers_share_jobs_events_limits_and_keys(
    stack: Stack, s3_server: S3Server
) -> None:
    a, b = stack.a, stack.b
    key = a.start_with_account(credits=100)
    b.start(wait=False)
    a.create_account("limited@example.com", credits=0, plan="free")
    limited = a.create_key("limited@example.com")[1]
    b.wait_ready()
    # The workers after the APIs: four processes importing at once on a small, busy machine
    # took longer than the helpers' ready timeout.
    stack.workers += [WorkerProcess(a, "cpu", "one"), WorkerProcess(a, "cpu", "two")]
    for worker in stack.workers:
        worker.wait_ready()

    async with httpx.AsyncClient(timeout=30.0, follow_redirects=True) as http:
        # Created on A, visible from B at once, streamed from B to `completed`: the events of
        # a job that runs in a worker process reach B through Redis.
        created = await http.post(
            f"{a.base_url}/api/v1/generate/image", json=IMAGE, headers=auth(key)
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        seen = await http.get(f"{b.base_url}/api/v1/generations/{job_id}", headers=auth(key))
        assert seen.status_code == 200 and seen.json()["id"] == job_id, seen.text
        events = await _stream(http, f"{b.base_url}/api/v1/generations/{job_id}/events", key)
        assert events[-1].event == "completed", events
        assert "snapshot" not in events[-1].data["data"]  # live from the bus, not a re-read
        job = events[-1].data["data"]["generation"]
        assert job["status"] == "completed", job

        # Its output is in the bucket, and B's signed URL hands it out (a redirect to the
        # object store, followed).
        names = s3_server.keys(stack.storage_prefix)
        assert any(f"/{job_id}/0." in name for name in names), names
        b_view = (
            await http.get(f"{b.base_url}/api/v1/generations/{job_id}", headers=auth(key))
        ).json()
        assert b_view["output_url"].startswith(b.base_url)
        downloaded = await http.get(b_view["output_url"])
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.url.port == httpx.URL(s3_server.endpoint_url).port  # the bucket's
        assert Image.open(io.BytesIO(downloaded.content)).size == (256, 256)

        # Created on B, cancelled through A: the worker running it stops. Both workers are
        # busy with a slow job each; one is cancelled, and a quick job can then only run on
        # the worker that stopped the cancelled one.
        slow_ids = []
        for _ in range(2):
            created = await http.post(
                f"{b.base_url}/api/v1/generate/image", json=SLOW, headers=auth(key)
            )
            assert created.status_code == 202, created.text
            slow_ids.append(created.json()["id"])
        holders = set()
        for slow_id in slow_ids:
            await wait_for_on(b, key, slow_id, "processing")
            holders.add((await stored(a.env["MEDIASTUDIO_DATABASE_URL"], slow_id))[1])
        assert len(holders) == 2, holders  # one on each worker
        cancelled = await http.post(
            f"{a.base_url}/api/v1/generations/{slow_ids[0]}/cancel", headers=auth(key)
        )
        assert cancelled.status_code == 200, cancelled.text
        created = await http.post(
            f"{a.base_url}/api/v1/generate/image", json=QUICK, headers=auth(key)
        )
        quick = await wait_for_on(b, key, created.json()["id"], "completed")
        assert quick["status"] == "completed"
        first = await wait_for_on(b, key, slow_ids[0], "cancelled")
        assert (first["credits_charged"], first["credits_refunded"]) == (0, 5)
        async with httpx.AsyncClient(base_url=b.base_url, timeout=30.0) as on_b:
            refunds = (await entries_for(on_b, key, slow_ids[0])).get("refund", [])
            assert [entry["amount"] for entry in refunds] == [5], refunds
            # The other slow job is cancelled too, so that the books close.
            await on_b.post(f"/api/v1/generations/{slow_ids[1]}/cancel", headers=auth(key))
            await wait_for(on_b, key, slow_ids[1])
            # 100 - the first and the quick image (5 each); both slow ones refunded.
            assert await assert_books_balanced(on_b, key) == (90, 0)

        # One rate-limit window for A and B: exactly the plan's limit succeeds, alternating.
        statuses = []
        for index in range(LIMIT + 2):
            server = (a, b)[index % 2]
            response = await http.get(f"{server.base_url}/api/v1/account", headers=auth(limited))
            statuses.append(response.status_code)
        assert statuses == [200] * LIMIT + [429] * 2, statuses
        assert count_prefixed(a.env["MEDIASTUDIO_REDIS_KEY_PREFIX"]) >= 1

    # One Idempotency-Key sent to A and B at once: one job.
    headers = {**auth(key), "Idempotency-Key": "one-request-two-apis"}
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as http:
        responses = await asyncio.gather(
            *(
                http.post(f"{server.base_url}/api/v1/generate/image", json=QUICK, headers=headers)
                for server in [a, b] * 10
            )
        )
        counts = Counter(r.status_code for r in responses)
        assert set(counts) <= {202, 409} and counts[202] >= 1, counts
        ids = {r.json()["id"] for r in responses if r.status_code == 202}
        assert len(ids) == 1, ids
        listed = (await http.get(f"{a.base_url}/api/v1/generations", headers=auth(key))).json()
        assert sum(job["id"] in ids for job in listed["data"]) == 1


async def wait_for_on(
    server: ServerProcess, key: str, job_id: str, status: str
) -> dict[str, object]:
    """Poll the generation through ``server`` until it has ``status`` (or is terminal)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as on_server:
        return await wait_for(
            on_server,
            key,
            job_id,
            until=lambda body: body["status"] in {status, "completed", "failed", "cancelled"},
        )
