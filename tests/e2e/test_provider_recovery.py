"""A real server killed (SIGKILL) while Replicate works on its job: after a restart on the same
data directory the job polls the same prediction, submits nothing twice, and charges once."""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.deployment import stored_row
from tests.e2e.server import ServerProcess, assert_books_balanced, auth, client, wait_for
from tests.providers.fake_replicate import FakeReplicate, Plan, RunningFake

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with RunningFake() as running:
        yield running


def replicate_env(fake: FakeReplicate) -> dict[str, str]:
    port = fake.base_url.rsplit(":", 1)[1]
    return {
        "MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY": fake.token,
        "MEDIASTUDIO_PROVIDERS__REPLICATE__BASE_URL": fake.base_url,
        "MEDIASTUDIO_PROVIDERS__REPLICATE__POLL_INTERVAL_S": "0.05",
        "MEDIASTUDIO_PROVIDERS__REPLICATE__POLL_MAX_INTERVAL_S": "0.2",
        "MEDIASTUDIO_NET_ALLOW_HOSTS": f"127.0.0.1:{port}",
        # Far longer than the test: the job can only come back through the start-up pass.
        "MEDIASTUDIO_JOB_LEASE_S": "120",
    }


async def test_a_killed_server_resumes_the_same_prediction_after_restart(
    server: ServerProcess, fake: FakeReplicate
) -> None:
    fake.plans.append(Plan(stall=True))
    env = replicate_env(fake)
    key = server.start_with_account(env, credits=100)
    body = {"model": "prunaai/z-image-turbo", "prompt": "a lighthouse", "aspect_ratio": "1:1"}
    async with client(server) as http:
        created = await http.post("/api/v1/generate/image", json=body, headers=auth(key))
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        # Past 10 % the prediction id is stored: the job is polling it.
        await wait_for(http, key, job_id, until=lambda b: b["progress"] >= 10)

    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    [prediction] = fake.creates
    stored = await stored_row(
        server.data_dir, "SELECT status, checkpoint FROM generations WHERE id = ?", job_id
    )
    assert stored is not None
    status, checkpoint = stored
    assert status == "processing" and prediction.id in str(checkpoint)

    fake.release()
    server.start(env)
    async with client(server) as http:
        done = await wait_for(http, key, job_id)
        assert done["status"] == "completed", done
        assert done["provider"] == "replicate" and done["credits_charged"] == 5
        assert len(fake.creates) == 1 and fake.cancelled == []
        image = Image.open(io.BytesIO((await http.get(done["output_url"])).content))
        assert image.size == (1024, 1024)
        assert (await assert_books_balanced(http, key))[0] == 95
