"""The key cache (keys/cache.py): a known key is not read again while nothing changed, and a
change to it, by this process or another one, is seen by the very next request."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, update

from mediastudio.accounts.models import Account
from mediastudio.keys import auth as auth_module
from mediastudio.keys import service as keys
from mediastudio.keys.models import ApiKey
from mediastudio.kit.clock import utcnow
from tests.conftest import Api, auth

pytestmark = pytest.mark.databases

IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}


@contextmanager
def key_lookups(api: Api) -> Iterator[Counter[str]]:
    """Counts the SELECTs on api_keys the app runs meanwhile."""
    seen: Counter[str] = Counter()
    engine = api.platform.db.read_engine.sync_engine

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.lstrip().startswith("SELECT") and "FROM api_keys" in sql:
            seen["api_keys"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)


def reads(api: Api, *, cached: int, requests: int) -> int:
    """The key lookups expected: ``cached`` where the cache is on, one per request on
    PostgreSQL, where processes share no change counter and the cache stays off."""
    return cached if api.platform.db.changes is not None else requests


async def key_id_of(api: Api, secret: str) -> str:
    async with api.platform.db.read() as session:
        return (await keys.authenticate(session, secret, None, utcnow())).id


async def test_a_known_key_is_read_once_while_nothing_changes(api: Api) -> None:
    secret = await api.key(await api.account())
    with key_lookups(api) as lookups:
        for _ in range(5):
            response = await api.client.get("/api/v1/account", headers=auth(secret))
            assert response.status_code == 200, response.text
        created = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(secret))
        assert created.status_code == 202, created.text
    assert lookups["api_keys"] == reads(api, cached=1, requests=6)


async def test_a_live_create_does_not_empty_the_cache(api: Api) -> None:
    """Credits move on every live create; the cache copies no balance, so they do not count."""
    secret = await api.key(await api.account(credits=100))
    with key_lookups(api) as lookups:
        for _ in range(3):
            created = await api.client.post(
                "/api/v1/generate/image", json=IMAGE, headers=auth(secret)
            )
            assert created.status_code == 202, created.text
    assert lookups["api_keys"] == reads(api, cached=1, requests=3)


async def test_scopes_changed_in_the_database_apply_to_the_next_request(api: Api) -> None:
    secret = await api.key(await api.account())
    assert (await api.client.get("/api/v1/account", headers=auth(secret))).status_code == 200
    async with api.platform.db.write() as session:
        await session.execute(update(ApiKey).values(scopes=["generate:image"]))
    refused = await api.client.get("/api/v1/account", headers=auth(secret))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "insufficient_scope"


async def test_a_cached_key_expires_on_time(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The expiry is checked against the copy on every request, not only when it is read. The
    clock is moved past the expiry rather than waited for (a key that expires a second after
    it is made may be gone before a busy machine's first request)."""
    made = utcnow()
    secret = await api.key(await api.account(), expires_at=made + timedelta(hours=1))
    assert (await api.client.get("/api/v1/account", headers=auth(secret))).status_code == 200
    monkeypatch.setattr(auth_module, "utcnow", lambda: made + timedelta(hours=2))
    with key_lookups(api) as lookups:
        expired = await api.client.get("/api/v1/account", headers=auth(secret))
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "expired_api_key"
    assert lookups["api_keys"] == reads(api, cached=0, requests=1)  # 0: on the cached copy


async def test_a_key_revoked_by_another_process_is_refused_at_once(api: Api) -> None:
    """`mediastudio keys revoke` in its own process, the key warm in this one's cache."""
    secret = await api.key(await api.account())
    assert (await api.client.get("/api/v1/account", headers=auth(secret))).status_code == 200
    revoked = await asyncio.to_thread(
        subprocess.run,
        [
            str(Path(sys.executable).parent / "mediastudio"),
            "keys",
            "revoke",
            await key_id_of(api, secret),
        ],
        env={
            "MEDIASTUDIO_DATA_DIR": str(api.platform.settings.data_dir),
            "MEDIASTUDIO_DATABASE_URL": api.platform.settings.resolved_database_url,
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoked.returncode == 0, revoked.stderr
    refused = await api.client.get("/api/v1/account", headers=auth(secret))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"


async def test_a_deleted_account_takes_its_cached_keys_with_it(api: Api) -> None:
    secret = await api.key(await api.account())
    assert (await api.client.get("/api/v1/account", headers=auth(secret))).status_code == 200
    async with api.platform.db.write() as session:
        await session.execute(delete(Account))  # its keys go with it (ON DELETE CASCADE)
    refused = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(secret))
    assert refused.status_code == 401
