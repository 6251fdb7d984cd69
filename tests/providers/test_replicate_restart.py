"""A platform stopped in the middle of a Replicate job resumes polling the same prediction when
it starts again on the same data directory: one prediction, one charge, no cancel."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.conftest import auth, open_api
from tests.providers.conftest import replicate_settings
from tests.providers.fake_replicate import FakeReplicate, Plan
from tests.providers.test_replicate_jobs import IMAGE, balance, create, ledger_kinds


def checkpoint_of(data_dir: Path, generation_id: str) -> tuple[str, Any, Any]:
    with closing(sqlite3.connect(data_dir / "mediastudio.db")) as db:
        row = db.execute(
            "SELECT status, checkpoint, provider FROM generations WHERE id = ?", (generation_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


async def test_a_restart_mid_job_polls_the_same_prediction(
    tmp_path: Path, fake: FakeReplicate
) -> None:
    fake.plans.append(Plan(stall=True))
    settings = replicate_settings(tmp_path / "data", fake)
    async with open_api(settings) as api:
        account = await api.account(credits=100)
        key = await api.key(account)
        job = await create(api, key, "/api/v1/generate/image", IMAGE)
        running = await api.wait(key, job["id"], until=lambda body: body["progress"] >= 10)
        assert running["status"] == "processing" and running["provider"] == "replicate"
    # Stopped (gracefully): the job went back to the queue with its prediction remembered.
    [prediction] = fake.creates
    status, checkpoint, provider = checkpoint_of(settings.data_dir, job["id"])
    assert status == "queued" and provider == "replicate"
    assert f'"id": "{prediction.id}"' in checkpoint
    assert fake.cancelled == []  # a shutdown leaves the prediction running for the next start
    polls_before = prediction.gets

    fake.release()
    async with open_api(settings) as api:
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        assert len(fake.creates) == 1 and prediction.gets > polls_before
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [5], "capture": [-5]}
        assert await balance(api, key) == (95, 0)
        retried = await api.client.get(f"/api/v1/generations/{job['id']}", headers=auth(key))
        assert retried.json()["provider"] == "replicate"
