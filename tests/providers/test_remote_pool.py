"""Provider jobs wait on the network in the ``remote`` pool: many of them in flight at once,
none of them holding a cpu worker (docs/architecture.md, "Worker pools")."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from PIL import Image

from mediastudio.engines.contract import REMOTE_POOL
from mediastudio.engines.providers import catalog
from mediastudio.settings import load_settings
from tests.conftest import Api, auth, open_api
from tests.providers.conftest import providers_settings
from tests.providers.fake_replicate import FakeReplicate, Plan

IMAGE = {"model": "prunaai/z-image-turbo", "prompt": "a red bicycle on a beach"}
PROVIDER_JOBS = 24  # three times the io pool's 8 slots that provider jobs had before


async def create(api: Api, key: str, body: dict[str, Any]) -> str:
    response = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    generation_id: str = response.json()["id"]
    return generation_id


async def status(api: Api, key: str, generation_id: str) -> str:
    response = await api.client.get(f"/api/v1/generations/{generation_id}", headers=auth(key))
    found: str = response.json()["status"]
    return found


async def until_created(fake: FakeReplicate, count: int) -> None:
    """Wait until the fake has ``count`` predictions (a bound on the wait, not a measure)."""
    try:
        async with asyncio.timeout(30):
            while len(fake.creates) < count:
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(
            f"only {len(fake.creates)} of {count} jobs reached Replicate"
        ) from None


async def test_many_provider_jobs_are_in_flight_while_a_cpu_job_still_runs(
    tmp_path: Path, fake: FakeReplicate
) -> None:
    fake.plans.extend(Plan(stall=True) for _ in range(PROVIDER_JOBS))
    settings = providers_settings(
        tmp_path / "data", replicate=fake, replicate_options={"poll_max_interval_s": 0.5}
    )
    async with open_api(settings) as api:
        key = await api.key(await api.account(credits=10_000))
        provider_jobs = [await create(api, key, IMAGE) for _ in range(PROVIDER_JOBS)]
        await until_created(fake, PROVIDER_JOBS)
        # Every provider job holds a slot, waiting on Replicate: a cpu-pool job still runs.
        cpu_job = await create(api, key, {"model": "fake/image", "prompt": "meanwhile"})
        done = await api.wait(key, cpu_job, timeout=30)
        assert done["status"] == "completed", done
        still = [await status(api, key, job) for job in provider_jobs]
        assert still == ["processing"] * PROVIDER_JOBS
        assert fake.most_in_flight >= 20
        assert fake.most_in_flight == PROVIDER_JOBS

        fake.release()
        finished = [await api.wait(key, job, timeout=60) for job in provider_jobs]
        output = finished[-1]["outputs"][0]
        image = Image.open(io.BytesIO((await api.client.get(output["url"])).content))
    assert [job["status"] for job in finished] == ["completed"] * PROVIDER_JOBS
    assert len(fake.creates) == PROVIDER_JOBS  # one prediction each, none submitted twice
    assert image.size == (output["width"], output["height"]) == (1024, 1024)


def test_provider_models_name_the_remote_pool_and_it_has_hundreds_of_slots(
    tmp_path: Path,
) -> None:
    generic = [
        catalog.resolve_generic("replicate/acme/some-model", None),
        catalog.resolve_generic("fal/fal-ai/flux/dev", None),
    ]
    models = [*catalog.CURATED, *(model for model in generic if model is not None)]
    assert len(models) == len(catalog.CURATED) + 2
    assert {model.spec.pool for model in models} == {REMOTE_POOL}
    settings = load_settings(data_dir=tmp_path, bootstrap=False)
    assert settings.workers_for(REMOTE_POOL) == 256
    assert load_settings(data_dir=tmp_path, workers_remote=0).workers_for(REMOTE_POOL) == 0
