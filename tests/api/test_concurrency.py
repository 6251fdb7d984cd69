"""Money and idempotency under concurrency, through the real request path."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from mediastudio.accounts import service as accounts
from mediastudio.credits.models import LedgerEntry
from mediastudio.generations.models import Generation, Status
from mediastudio.kit.clock import utcnow
from mediastudio.kit.ids import new_id
from mediastudio.migrations import upgrade
from mediastudio.platform import Platform
from mediastudio.runtime.runner import Claimed, JobRunner, RunResult
from tests.api.test_generations import assert_ledger_balanced
from tests.conftest import Api, auth, make_settings, open_api

pytestmark = pytest.mark.databases

IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}  # 5 credits


async def test_200_concurrent_creates_against_credit_for_10(api: Api) -> None:
    account = await api.account(credits=50)
    key = await api.key(account)
    responses = await asyncio.gather(
        *(
            api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
            for _ in range(200)
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {202: 10, 402: 190}
    async with api.platform.db.read() as session:
        generations = await session.scalar(
            select(func.count()).select_from(Generation).where(Generation.account_id == account)
        )
        reserves = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "reserve")
        )
    assert generations == 10 and reserves == 10
    await assert_ledger_balanced(api, account)
    for response in responses:
        if response.status_code == 202:
            await api.wait(key, response.json()["id"])
    body = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    assert (body["credit_balance"], body["credits_reserved"]) == (0, 0)
    await assert_ledger_balanced(api, account)


async def test_50_concurrent_requests_with_one_idempotency_key_make_one_generation(
    api: Api,
) -> None:
    account = await api.account(credits=1000)
    key = await api.key(account)
    headers = {**auth(key), "Idempotency-Key": "the-same-key"}
    responses = await asyncio.gather(
        *(api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers) for _ in range(50))
    )
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {202, 409}, statuses
    ids = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(ids) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "idempotency_key_in_use"
    async with api.platform.db.read() as session:
        count = await session.scalar(select(func.count()).select_from(Generation))
        reserves = await session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "reserve")
        )
    assert count == 1 and reserves == 1
    # Once the first request has finished, every retry replays its response.
    replay = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers)
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] in ids


async def test_failed_create_releases_its_idempotency_key(api: Api) -> None:
    account = await api.account(credits=2)
    key = await api.key(account)
    headers = {**auth(key), "Idempotency-Key": "top-up-then-retry"}
    refused = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers)
    assert refused.status_code == 402
    from mediastudio.credits import service as credits

    async with api.platform.db.write() as session:
        await credits.grant(session, account, 10, "top up")
    accepted = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers)
    assert accepted.status_code == 202
    assert "idempotent-replayed" not in accepted.headers


@pytest.fixture
async def unthrottled_free(tmp_path: Path, database_url: str | None) -> AsyncIterator[Api]:
    """The ``free`` plan's cap without its 60 requests a minute, which polling two jobs on a
    busy machine can exceed (the cap, not the rate limit, is under test)."""
    settings = make_settings(
        tmp_path / "data", database_url=database_url, plans={"free": {"rate_limit": None}}
    )
    async with open_api(settings) as opened:
        yield opened


async def test_concurrency_cap_holds_jobs_back_until_a_slot_frees(unthrottled_free: Api) -> None:
    api = unthrottled_free
    account = await api.account(plan="free", credits=1000)  # free: one job at a time
    key = await api.key(account)
    slow = {**IMAGE, "prompt": "[slow:1]"}
    first = (await api.client.post("/api/v1/generate/image", json=slow, headers=auth(key))).json()
    second = (await api.client.post("/api/v1/generate/image", json=slow, headers=auth(key))).json()
    # Whichever starts first (distributed, two worker slots take the two messages at once and
    # either claim may win), the other waits queued while it runs.
    ids = [first["id"], second["id"]]
    async with asyncio.timeout(60):
        while True:
            bodies = [
                (await api.client.get(f"/api/v1/generations/{job}", headers=auth(key))).json()
                for job in ids
            ]
            statuses = [body["status"] for body in bodies]
            if "processing" in statuses:
                break
            assert "completed" not in statuses, bodies
            await asyncio.sleep(0.05)
    assert sorted(statuses) == ["processing", "queued"], bodies
    for job in ids:
        assert (await api.wait(key, job))["status"] == "completed"


async def test_workers_claiming_one_capped_accounts_jobs_at_once_never_exceed_the_cap(
    tmp_path: Path, database_url: str | None
) -> None:
    """Eight queued jobs of a ``free`` account (one job at a time), offered to eight workers at
    once, round after round: each round exactly one claim stands and the rest are deferred with
    the job queued as it was. On PostgreSQL the claims are concurrent transactions; the account
    row lock taken after the claim is what makes them count in turn (runtime/runner.py)."""
    settings = make_settings(tmp_path / "data", database_url=database_url)
    platform = Platform.build(settings)  # no workers of its own: only the runners below claim
    try:
        await upgrade(platform.db)
        async with platform.db.write() as session:
            owner = await accounts.create(session, settings, email="cap@example.com", plan="free")
            jobs = [
                Generation(
                    id=new_id("gen"),
                    account_id=owner.id,
                    type="image",
                    model="fake/image",
                    status=Status.QUEUED,
                    input={"prompt": "a lighthouse"},
                    created_at=utcnow(),
                )
                for _ in range(8)
            ]
            session.add_all(jobs)
        cap = settings.plan("free").max_concurrent_jobs
        assert cap == 1
        queued = {job.id for job in jobs}
        while queued:
            runners = [
                JobRunner(
                    platform.db,
                    platform.registry,
                    platform.storage,
                    settings,
                    platform.bus,
                    worker_id=f"worker-{index}",
                    notify=platform.outbox,
                )
                for index in range(len(queued))
            ]
            results = await asyncio.gather(
                *(
                    runner._claim(job_id)
                    for runner, job_id in zip(runners, sorted(queued), strict=True)
                )
            )
            claimed = [result for result in results if isinstance(result, Claimed)]
            assert len(claimed) == cap
            deferred = [result for result in results if not isinstance(result, Claimed)]
            assert deferred == [RunResult.DEFERRED] * (len(queued) - cap)
            async with platform.db.read() as session:
                statuses = Counter(
                    (
                        await session.execute(
                            select(Generation.status).where(Generation.id.in_(queued))
                        )
                    )
                    .scalars()
                    .all()
                )
            assert statuses == Counter({Status.PROCESSING: cap, Status.QUEUED: len(queued) - cap})
            done = claimed[0].generation.id
            async with platform.db.write() as session:
                await session.execute(
                    update(Generation)
                    .where(Generation.id == done)
                    .values(status=Status.COMPLETED, completed_at=utcnow())
                )
            queued.discard(done)
    finally:
        await platform.close()


async def test_creates_past_the_admission_limit_wait_their_turn_and_all_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API process works on at most ``creates_in_flight`` creates; the others wait before
    any of their work (docs/architecture.md, "Admission of creates") and are then served."""
    settings = make_settings(tmp_path / "data", creates_in_flight=2)
    async with open_api(settings) as api:
        account = await api.account(credits=1000)
        key = await api.key(account)
        service = api.platform.generations
        original = service.files.check_owned
        inside, peak = 0, 0

        async def slow_check(*args: object, **kwargs: object) -> None:
            nonlocal inside, peak
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.05)  # long enough for every request to arrive meanwhile
            inside -= 1
            await original(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(service.files, "check_owned", slow_check)
        responses = await asyncio.gather(
            *(
                api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
                for _ in range(12)
            )
        )
        assert [r.status_code for r in responses] == [202] * 12
        assert peak == 2
        async with api.platform.db.read() as session:
            made = await session.scalar(
                select(func.count()).select_from(Generation).where(Generation.account_id == account)
            )
        assert made == 12
