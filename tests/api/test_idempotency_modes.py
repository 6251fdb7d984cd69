"""Idempotency keys belong to an account and a mode: live and sandbox never replay each other."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from mediastudio.kit.db import Database
from mediastudio.migrations import upgrade
from tests.conftest import Api, auth

pytestmark = pytest.mark.databases

IMAGE = {"prompt": "a lighthouse", "model": "fake/image", "width": 256, "height": 256}


async def post(api: Api, key: str, idempotency_key: str) -> tuple[int, dict[str, object], bool]:
    response = await api.client.post(
        "/api/v1/generate/image",
        json=IMAGE,
        headers={**auth(key), "Idempotency-Key": idempotency_key},
    )
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    return response.status_code, response.json(), replayed


async def test_the_same_key_and_body_in_live_then_sandbox_makes_two_jobs(api: Api) -> None:
    account = await api.account()
    live = await api.key(account)
    sandbox = await api.key(account, sandbox=True)
    for first, second in ((live, sandbox), (sandbox, live)):
        idempotency_key = f"order-{first[:12]}"
        status_a, job_a, replayed_a = await post(api, first, idempotency_key)
        status_b, job_b, replayed_b = await post(api, second, idempotency_key)
        assert (status_a, status_b) == (202, 202)
        assert not replayed_a and not replayed_b
        assert job_a["id"] != job_b["id"]
        assert job_a["sandbox"] is (first == sandbox)
        assert job_b["sandbox"] is (second == sandbox)
        # Each key reads its own job, and a retry in each mode replays that mode's job.
        for key, job in ((first, job_a), (second, job_b)):
            read = await api.client.get(f"/api/v1/generations/{job['id']}", headers=auth(key))
            assert read.status_code == 200
            status, again, replayed = await post(api, key, idempotency_key)
            assert status == 202 and replayed and again["id"] == job["id"]


async def test_a_body_reused_in_the_other_mode_is_not_a_conflict(api: Api) -> None:
    """The fingerprint check stays within one mode: a different body under the same key in the
    other mode is a new request, not ``idempotency_key_reused``."""
    account = await api.account()
    live = await api.key(account)
    sandbox = await api.key(account, sandbox=True)
    ok = await api.client.post(
        "/api/v1/generate/image", json=IMAGE, headers={**auth(live), "Idempotency-Key": "k"}
    )
    assert ok.status_code == 202
    other = await api.client.post(
        "/api/v1/generate/image",
        json={**IMAGE, "prompt": "another"},
        headers={**auth(sandbox), "Idempotency-Key": "k"},
    )
    assert other.status_code == 202
    reused = await api.client.post(
        "/api/v1/generate/image",
        json={**IMAGE, "prompt": "changed"},
        headers={**auth(live), "Idempotency-Key": "k"},
    )
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


def _insert(connection: sa.Connection, table: str, **values: object) -> None:
    """A row with ``values``, and a plain value in every other required column (reflected, so
    the test does not restate the 0003 schema)."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
    row = dict(values)
    for column in reflected.columns:
        if column.name in row or column.nullable:
            continue
        python_type = column.type.python_type if hasattr(column.type, "python_type") else str
        row[column.name] = {
            int: 0,
            bool: False,
            str: "x",
            datetime: datetime(2026, 12, 1, tzinfo=UTC),
            dict: {},
            list: [],
        }.get(python_type, "x")
    connection.execute(reflected.insert().values(**row))


def _old_records(connection: sa.Connection) -> None:
    _insert(connection, "accounts", id="acc_1", email="a@example.com")
    for gen_id, sandbox in (("gen_live", False), ("gen_test", True)):
        _insert(connection, "generations", id=gen_id, account_id="acc_1", sandbox=sandbox)
        _insert(
            connection,
            "idempotency_keys",
            account_id="acc_1",
            key=f"k-{gen_id}",
            response_body={"id": gen_id},
        )


async def test_the_migration_gives_old_records_the_mode_of_their_generation(
    blank_database_url: str,
) -> None:
    db = Database(blank_database_url)
    await upgrade(db, "0003")
    async with db.write_engine.begin() as connection:
        await connection.run_sync(_old_records)
    await upgrade(db)
    async with db.write_engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.text("SELECT key, sandbox FROM idempotency_keys ORDER BY key")
            )
        ).all()
    assert [(key, bool(sandbox)) for key, sandbox in rows] == [
        ("k-gen_live", False),
        ("k-gen_test", True),
    ]
    await db.dispose()
