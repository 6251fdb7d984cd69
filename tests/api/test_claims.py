"""Workers competing for the same queued jobs on PostgreSQL: every job is claimed exactly once,
and no claim waits on the row lock of another (``FOR UPDATE SKIP LOCKED`` in
generations/repository.py ``claim_queued``). SQLite is left out: its writers take turns, so two
claims never hold locks at once there.

Each claimer runs with a ``lock_timeout``: a claim that waited on another's lock would fail with
``LockNotAvailable`` rather than hang, so a regression is an error, not a slow test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from mediastudio.accounts import service as accounts
from mediastudio.generations import lifecycle
from mediastudio.generations.models import Generation, Status
from mediastudio.kit.clock import utcnow
from mediastudio.kit.ids import new_id
from mediastudio.platform import Platform
from tests.conftest import make_settings

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

# Far longer than a claim needs; only a claim blocked on another transaction's lock reaches it.
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '5s'"


@pytest.fixture
async def platform(tmp_path: Path, database_url: str) -> AsyncIterator[Platform]:
    """A platform with no workers of its own (the database is migrated already): only the
    claims of the test touch the jobs."""
    built = Platform.build(make_settings(tmp_path / "data", database_url=database_url))
    try:
        yield built
    finally:
        await built.close()


async def queued_jobs(
    platform: Platform, count: int, email: str = "claims@example.com"
) -> list[str]:
    """``count`` queued jobs of a new account."""
    async with platform.db.write() as session:
        owner = await accounts.create(session, platform.settings, email=email, plan="unlimited")
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
            for _ in range(count)
        ]
        session.add_all(jobs)
    return [job.id for job in jobs]


async def stored(platform: Platform, ids: list[str]) -> dict[str, tuple[str, str | None, int]]:
    """``{id: (status, worker_id, attempts)}`` as committed."""
    async with platform.db.read() as session:
        rows = await session.execute(
            select(
                Generation.id, Generation.status, Generation.worker_id, Generation.attempts
            ).where(Generation.id.in_(ids))
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows.all()}


async def test_a_claim_skips_a_job_whose_row_another_claim_holds(platform: Platform) -> None:
    (job,) = await queued_jobs(platform, 1)
    lease = utcnow() + timedelta(seconds=30)
    async with platform.db.write() as holder:
        assert await lifecycle.claim(holder, job, "worker-a", lease) is not None
        # worker-a's claim is not committed yet: worker-b's claim of the same job returns at
        # once, empty-handed, instead of waiting for worker-a to commit.
        async with platform.db.write() as competitor:
            await competitor.execute(text(LOCK_TIMEOUT))
            assert await lifecycle.claim(competitor, job, "worker-b", lease) is None
    assert (await stored(platform, [job]))[job] == (Status.PROCESSING, "worker-a", 1)

    # A holder that lets go without claiming (a claim rolled back: the account was at its cap)
    # leaves the job queued, and the next offer claims it.
    (job,) = await queued_jobs(platform, 1, email="claims-2@example.com")
    with pytest.raises(RuntimeError):
        async with platform.db.write() as holder:
            assert await lifecycle.claim(holder, job, "worker-a", lease) is not None
            async with platform.db.write() as competitor:
                await competitor.execute(text(LOCK_TIMEOUT))
                assert await lifecycle.claim(competitor, job, "worker-b", lease) is None
            raise RuntimeError("deferred")  # rolls worker-a's claim back
    assert (await stored(platform, [job]))[job] == (Status.QUEUED, None, 0)
    async with platform.db.write() as session:
        assert await lifecycle.claim(session, job, "worker-b", lease) is not None
    assert (await stored(platform, [job]))[job] == (Status.PROCESSING, "worker-b", 1)


async def test_concurrent_claimers_each_claim_a_job_exactly_once_without_waiting(
    platform: Platform,
) -> None:
    """Four workers, each in one transaction, try all twelve jobs, each starting at a different
    one: each claims its first before any goes on, and all hold what they claimed until all
    four have tried every job. A claim that waited on another's row lock could never finish
    (the holder waits for it at a barrier): the four only get through because a held job is
    skipped."""
    claimers, jobs = 4, await queued_jobs(platform, 12)
    lease = utcnow() + timedelta(seconds=30)
    first_held, all_tried = asyncio.Barrier(claimers), asyncio.Barrier(claimers)

    async def claimer(index: int) -> list[str]:
        claimed = []
        start = index * len(jobs) // claimers
        async with platform.db.write() as session:
            await session.execute(text(LOCK_TIMEOUT))
            for position, job in enumerate(jobs[start:] + jobs[:start]):
                if await lifecycle.claim(session, job, f"worker-{index}", lease) is not None:
                    claimed.append(job)
                if position == 0:
                    await first_held.wait()  # every worker holds a job before any goes on
            await all_tried.wait()  # every claim of every worker made while all are held
        return claimed

    results = await asyncio.gather(*(claimer(index) for index in range(claimers)))
    claimed = [job for result in results for job in result]
    assert sorted(claimed) == sorted(jobs)  # each job once, none twice, none missed
    assert all(results), results  # every worker got its own first job
    rows = await stored(platform, jobs)
    for index, result in enumerate(results):
        for job in result:
            assert rows[job] == (Status.PROCESSING, f"worker-{index}", 1)
