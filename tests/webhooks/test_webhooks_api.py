"""Webhooks over HTTP, delivered to real receivers on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from mediastudio.generations import lifecycle
from mediastudio.generations.lifecycle import Outcome
from mediastudio.generations.models import Generation, Status
from mediastudio.kit.clock import utcnow
from mediastudio.kit.ids import new_id
from mediastudio.webhooks.models import WebhookDelivery
from tests.conftest import Api, auth, make_settings, open_api
from tests.fetch_servers import (
    TEST_CA_PEM,
    TEST_CERT_HOST,
    LoopbackServer,
    Route,
    ok,
    redirect,
    server_tls_context,
)
from tests.unit.test_fetch import FakeDns
from tests.webhooks.node_verify import NODE, node_verify
from tests.webhooks.receivers import Script

pytestmark = pytest.mark.databases

# The fake resolver is patched into the test process; on the distributed deployment deliveries
# are sent by the worker process, which resolves names for real.
IN_PROCESS_DNS = pytest.mark.embedded_only(
    reason="delivery's DNS is faked in the test process; the worker process sends webhooks"
)

IMAGE = {"prompt": "Crème brûlée, Zoë's café 🌅🚀", "model": "fake/image"}
FAST = {
    "net_allow_hosts": "127.0.0.1",
    "webhook_retry_schedule": "0.2,0.2,0.2",
    "webhook_poll_interval_s": 0.1,
}


@pytest.fixture
async def api(tmp_path: Path, database_url: str | None) -> AsyncIterator[Api]:
    async with open_api(
        make_settings(tmp_path / "data", database_url=database_url, **FAST)
    ) as opened:
        yield opened


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


def receiver(script: Script, **options: Any) -> LoopbackServer:
    return LoopbackServer({"/hook": script.route()}, **options)


async def setup(api: Api, **key_options: Any) -> str:
    return await api.key(await api.account(), **key_options)


async def register(api: Api, key: str, url: str, **body: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/webhooks", json={"url": url, **body}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def generate(api: Api, key: str, **extra: Any) -> dict[str, Any]:
    created = await api.client.post(
        "/api/v1/generate/image", json={**IMAGE, **extra}, headers=auth(key)
    )
    assert created.status_code == 202, created.text
    return await api.wait(key, created.json()["id"])


async def deliveries(api: Api, key: str, webhook_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=auth(key))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def settled(
    api: Api, key: str, webhook_id: str, count: int, *, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """The endpoint's deliveries once ``count`` exist and none is pending."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await deliveries(api, key, webhook_id)
        if len(rows) >= count and all(row["status"] != "pending" for row in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


def bodies(server: LoopbackServer) -> list[tuple[bytes, dict[str, str]]]:
    return [(seen.body, {k.lower(): v for k, v in seen.headers}) for seen in server.seen]


# Registration ---------------------------------------------------------------------------------


async def test_endpoint_crud_secret_once_and_scope(api: Api) -> None:
    account = await api.account()
    key = await api.key(account)
    created = await register(api, key, "http://127.0.0.1:9/hook", events=["generation.failed"])
    assert created["id"].startswith("whk_") and created["secret"].startswith("whsec_")
    assert created["enabled"] is True and created["events"] == ["generation.failed"]

    listed = (await api.client.get("/api/v1/webhooks", headers=auth(key))).json()["data"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    patched = await api.client.patch(
        f"/api/v1/webhooks/{created['id']}",
        json={"events": [], "description": "all of them"},
        headers=auth(key),
    )
    assert patched.status_code == 200 and patched.json()["events"] == []
    bad = await api.client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"events": ["nope"]}, headers=auth(key)
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"

    reader = await api.key(account, scopes=["read"])
    refused = await api.client.get("/api/v1/webhooks", headers=auth(reader))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
    other = await api.key(await api.account("b@example.com"))
    hidden = await api.client.get(f"/api/v1/webhooks/{created['id']}", headers=auth(other))
    assert hidden.status_code == 404

    gone = await api.client.delete(f"/api/v1/webhooks/{created['id']}", headers=auth(key))
    assert gone.status_code == 204
    missing = await api.client.get(f"/api/v1/webhooks/{created['id']}", headers=auth(key))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8443/hook",  # not allowlisted: http refused
        "https://127.0.0.1/hook",  # loopback
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://evil.example/hook",  # resolves to a private address
        "https://2130706433/hook",
        "file:///etc/passwd",
        "https://user:pw@hooks.example/",
    ],
)
async def test_registration_refuses_private_and_odd_targets(
    url: str, tmp_path: Path, dns: FakeDns
) -> None:
    dns.add("evil.example", ["10.0.0.5"])
    settings = make_settings(tmp_path / "data", net_allow_hosts="")
    async with open_api(settings) as api:
        key = await setup(api)
        response = await api.client.post("/api/v1/webhooks", json={"url": url}, headers=auth(key))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_request"
        patched = await api.client.patch(
            "/api/v1/settings", json={"webhook_url": url}, headers=auth(key)
        )
        assert patched.status_code == 400, patched.text


# Delivery -------------------------------------------------------------------------------------


async def test_receiver_down_then_up_gets_every_event_exactly_once(api: Api) -> None:
    script = Script(fail_each=2)  # 503, 503, then 200 for every event
    with receiver(script) as server:
        key = await setup(api)
        hook = await register(api, key, server.url("/hook"))
        jobs = [await generate(api, key) for _ in range(3)]
        rows = await settled(api, key, hook["id"], 3)

    assert {row["status"] for row in rows} == {"succeeded"}
    assert sorted(script.ok_ids()) == sorted(row["event_id"] for row in rows)
    assert len(set(script.ok_ids())) == 3  # each event exactly once by webhook-id
    for row in rows:
        assert row["attempts"] == 3
        assert [a["status_code"] for a in row["attempt_log"]] == [503, 503, 200]
        assert row["last_status_code"] == 200 and row["next_attempt_at"] is None
    received = {}
    for body, headers in bodies(server):
        event = Webhook(hook["secret"]).verify(body, headers)
        assert body == json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        received[event["data"]["id"]] = event
    assert set(received) == {job["id"] for job in jobs}
    for job in jobs:
        event = received[job["id"]]
        assert event["event"] == "generation.completed" and event["id"].startswith("evt_")
        assert event["data"]["prompt"] == IMAGE["prompt"]
        assert event["data"]["output_url"] and event["data"]["status"] == "completed"
        assert event["data"]["outputs"][0]["width"] == job["outputs"][0]["width"]


async def test_events_filter_and_failed_jobs(api: Api) -> None:
    script = Script()
    with receiver(script) as server:
        key = await setup(api)
        only_failed = await register(api, key, server.url("/hook"), events=["generation.failed"])
        everything = await register(api, key, server.url("/hook"))
        failed = await generate(api, key, prompt="boom [fail:engine_error]")
        await generate(api, key)
        await settled(api, key, everything["id"], 2)
        rows = await settled(api, key, only_failed["id"], 1)
    assert [row["event"] for row in rows] == ["generation.failed"]
    assert rows[0]["generation_id"] == failed["id"]


async def test_generation_webhook_url_is_signed_with_the_account_secret(api: Api) -> None:
    script = Script()
    with receiver(script) as server:
        key = await setup(api)
        job = await generate(api, key, webhook_url=server.url("/hook"))
        deadline = time.monotonic() + 10
        while not script.ok_ids():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    secret = (await api.client.get("/api/v1/account/webhook-secret", headers=auth(key))).json()
    body, headers = bodies(server)[0]
    event = Webhook(secret["secret"]).verify(body, headers)
    assert event["data"]["id"] == job["id"] and event["data"]["webhook_url"] == server.url("/hook")
    if NODE is not None:
        assert node_verify([(body, headers["x-webhook-signature"], secret["secret"])]) == [
            {"ok": True, "same": True}
        ]


async def test_410_gone_disables_the_endpoint(api: Api) -> None:
    script = Script(answers=[410])
    with receiver(script) as server:
        key = await setup(api)
        hook = await register(api, key, server.url("/hook"))
        await generate(api, key)
        rows = await settled(api, key, hook["id"], 1)
        assert rows[0]["status"] == "failed" and rows[0]["last_status_code"] == 410
        shown = (await api.client.get(f"/api/v1/webhooks/{hook['id']}", headers=auth(key))).json()
        assert shown["enabled"] is False and "410" in shown["disabled_reason"]
        await generate(api, key)
        assert len(await deliveries(api, key, hook["id"])) == 1  # nothing more is queued
        assert script.calls == 1


async def test_dead_after_the_schedule_then_retried_by_hand(api: Api) -> None:
    script = Script(answers=[500, 500, 500, 500, 200])
    with receiver(script) as server:
        key = await setup(api)
        hook = await register(api, key, server.url("/hook"))
        await generate(api, key)
        [row] = await settled(api, key, hook["id"], 1)
        assert row["status"] == "dead" and row["attempts"] == 4  # first try + 3 retries
        assert row["last_error"] == "HTTP 500" and row["last_response_excerpt"]
        retried = await api.client.post(
            f"/api/v1/webhook-deliveries/{row['id']}/retry", headers=auth(key)
        )
        assert retried.status_code == 202 and retried.json()["status"] == "pending"
        [again] = await settled(api, key, hook["id"], 1)
    assert again["status"] == "succeeded" and again["event_id"] == row["event_id"]
    assert [event_id for event_id, _ in script.log] == [row["event_id"]] * 5
    failing = (await api.client.get(f"/api/v1/webhooks/{hook['id']}", headers=auth(key))).json()
    assert failing["failing_since"] is None and failing["enabled"] is True


async def test_failing_for_days_disables_the_endpoint(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data", **{**FAST, "webhook_disable_after_days": 0.5 / 86400}
    )
    script = Script(answers=[500])
    async with open_api(settings) as api:
        with receiver(script) as server:
            key = await setup(api)
            hook = await register(api, key, server.url("/hook"))
            await generate(api, key)
            await settled(api, key, hook["id"], 1)
            shown = await api.client.get(f"/api/v1/webhooks/{hook['id']}", headers=auth(key))
    assert shown.json()["enabled"] is False
    assert "failed for" in shown.json()["disabled_reason"]


async def test_rotation_signs_with_both_secrets(api: Api) -> None:
    script = Script()
    with receiver(script) as server:
        key = await setup(api)
        hook = await register(api, key, server.url("/hook"))
        rotated = await api.client.post(
            f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=auth(key)
        )
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        assert new_secret != hook["secret"] and rotated.json()["previous_secret_expires_at"]
        sent = await api.client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=auth(key))
        assert sent.status_code == 202 and sent.json()["event"] == "webhook.test"
        [row] = await settled(api, key, hook["id"], 1)
    assert row["status"] == "succeeded"
    body, headers = bodies(server)[0]
    for secret in (hook["secret"], new_secret):
        assert Webhook(secret).verify(body, headers)["event"] == "webhook.test"
    assert headers["x-webhook-signature"].count("v1=") == 2
    if NODE is not None:
        assert node_verify([(body, headers["x-webhook-signature"], new_secret)])[0]["ok"]


async def test_settings_webhook_url_is_the_default_endpoint(api: Api) -> None:
    key = await setup(api)
    first = await api.client.patch(
        "/api/v1/settings", json={"webhook_url": "http://127.0.0.1:9/a"}, headers=auth(key)
    )
    assert first.status_code == 200, first.text
    assert first.json()["secret"].startswith("whsec_")
    moved = await api.client.patch(
        "/api/v1/settings", json={"webhook_url": "http://127.0.0.1:9/b"}, headers=auth(key)
    )
    assert moved.json()["webhook"]["id"] == first.json()["webhook"]["id"]
    assert moved.json()["webhook_url"] == "http://127.0.0.1:9/b" and moved.json()["secret"] is None
    cleared = await api.client.patch(
        "/api/v1/settings", json={"webhook_url": None}, headers=auth(key)
    )
    assert cleared.json() == {"webhook_url": None, "webhook": None, "secret": None}
    assert (await api.client.get("/api/v1/webhooks", headers=auth(key))).json()["data"] == []


async def test_settings_read_back_what_patch_set(api: Api) -> None:
    key = await setup(api)
    empty = await api.client.get("/api/v1/settings", headers=auth(key))
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"webhook_url": None, "webhook": None, "secret": None}
    patched = await api.client.patch(
        "/api/v1/settings", json={"webhook_url": "http://127.0.0.1:9/a"}, headers=auth(key)
    )
    read = await api.client.get("/api/v1/settings", headers=auth(key))
    assert read.status_code == 200
    # The same object as the PATCH answered, but the secret is only shown once.
    assert read.json() == {**patched.json(), "secret": None}
    assert read.json()["webhook_url"] == "http://127.0.0.1:9/a"


async def test_a_black_hole_does_not_delay_other_endpoints(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data",
        **FAST,
        webhook_concurrency=4,
        webhook_per_endpoint_concurrency=2,
        webhook_timeout_s=120,
    )
    hole, fast = Script(answers=["stall"]), Script()
    async with open_api(settings) as api:
        with receiver(hole) as black_hole, receiver(fast) as good:
            key = await setup(api)
            stalled = await register(api, key, black_hole.url("/hook"))
            hook = await register(api, key, good.url("/hook"))
            for _ in range(6):
                await generate(api, key)
            # Ordering, not a stopwatch: every delivery to the good endpoint succeeded while
            # the black hole still held its first requests (its attempts never end before the
            # 120 s timeout, and it is released only below).
            rows = await settled(api, key, hook["id"], 6, timeout=90)
            assert {row["status"] for row in rows} == {"succeeded"}
            held = await deliveries(api, key, stalled["id"])
            assert len(held) == 6 and {row["status"] for row in held} == {"pending"}
            assert all(row["attempts"] == 0 for row in held), held
            assert hole.calls <= 2  # never more than its share in flight
            hole.release.set()


async def test_enhancement_batches_emit_enhancement_events(api: Api) -> None:
    key = await setup(api)
    account = (await api.client.get("/api/v1/account", headers=auth(key))).json()["id"]
    await register(api, key, "http://127.0.0.1:9/hook")
    generation = Generation(
        id=new_id("gen"),
        account_id=account,
        type="product-enhancement",
        model="builtin/product-enhance",
        status=Status.PROCESSING,
        input={},
        worker_id="w",
        created_at=utcnow(),
    )
    platform = api.platform
    async with platform.db.write() as session:
        session.add(generation)
    async with platform.db.write() as session:
        outcome = Outcome(Status.PARTIALLY_COMPLETED, outputs=[], error=None)
        assert await lifecycle.finish(session, generation, "w", outcome, notify=platform.outbox)
    async with platform.db.read() as session:
        rows = (await session.execute(select(WebhookDelivery))).scalars().all()
    assert [row.event_type for row in rows] == ["enhancement.partially_completed"]
    assert json.loads(rows[0].payload)["data"]["type"] == "product-enhancement"


# SSRF at delivery -----------------------------------------------------------------------------


@pytest.fixture
def ca_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ca.pem"
    path.write_text(TEST_CA_PEM)
    yield path


@IN_PROCESS_DNS
async def test_delivery_checks_dns_again_and_never_follows_redirects(
    tmp_path: Path, dns: FakeDns, ca_file: Path
) -> None:
    """Registered while the name pointed at a public address; delivered after it moved to a
    private one (refused, nothing sent). And an https endpoint that redirects to a private
    address: the 302 is a failed delivery, the redirect is never followed."""
    dns.add("hooks.example", ["93.184.215.14"], ["10.0.0.5"])
    dns.add(TEST_CERT_HOST, ["127.0.0.1"])
    routes: dict[str, Route] = {"/hook": redirect("https://10.0.0.1/steal")}
    settings = make_settings(
        tmp_path / "data",
        **{
            **FAST,
            "net_allow_hosts": TEST_CERT_HOST,
            "net_ca_file": ca_file,
            "webhook_retry_schedule": "",
        },
    )
    async with open_api(settings) as api:
        with LoopbackServer(routes, tls=server_tls_context()) as server:
            key = await setup(api)
            rebound = await register(api, key, "https://hooks.example/hook")
            redirecting = await register(api, key, server.url("/hook", host=TEST_CERT_HOST))
            await generate(api, key)
            [refused] = await settled(api, key, rebound["id"], 1)
            [moved] = await settled(api, key, redirecting["id"], 1)
            assert len(server.seen) == 1
    assert refused["status"] == "dead" and refused["last_status_code"] is None
    assert "non-public address" in refused["last_error"]
    assert moved["status"] == "dead" and moved["last_status_code"] == 302
    assert dns.lookups.count("hooks.example") == 2  # at registration and at delivery


async def test_jobs_in_terminal_status_are_all_covered(api: Api) -> None:
    """Cancelled (by the API) and failed jobs emit their events too."""
    script = Script()
    with receiver(script) as server:
        key = await setup(api)
        hook = await register(api, key, server.url("/hook"))
        created = await api.client.post(
            "/api/v1/generate/image",
            json={**IMAGE, "prompt": "slow [slow:5]"},
            headers=auth(key),
        )
        job_id = created.json()["id"]
        cancelled = await api.client.post(f"/api/v1/generations/{job_id}/cancel", headers=auth(key))
        assert cancelled.status_code == 200
        rows = await settled(api, key, hook["id"], 1)
    assert [row["event"] for row in rows] == ["generation.cancelled"]


async def test_a_job_failed_by_the_sweeper_emits_its_event(api: Api) -> None:
    """Recovery fails a job whose worker died with its attempts spent: that is a terminal
    status like any other, and its delivery is written in the sweeper's transaction."""
    key = await setup(api)
    account = (await api.client.get("/api/v1/account", headers=auth(key))).json()["id"]
    hook = await register(api, key, "http://127.0.0.1:9/hook", events=["generation.failed"])
    generation = Generation(
        id=new_id("gen"),
        account_id=account,
        type="image",
        model="fake/image",
        status=Status.PROCESSING,
        input={"prompt": "lost"},
        worker_id="elsewhere:1:abc",
        attempts=api.platform.settings.job_max_attempts,
        lease_expires_at=utcnow(),
        created_at=utcnow(),
    )
    async with api.platform.db.write() as session:
        session.add(generation)
    await api.platform.sweeper.sweep()
    [row] = await deliveries(api, key, hook["id"])
    assert row["event"] == "generation.failed" and row["generation_id"] == generation.id


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8443/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
    ],
)
async def test_a_generation_webhook_url_to_a_private_address_is_refused_at_create(
    url: str, tmp_path: Path
) -> None:
    async with open_api(make_settings(tmp_path / "data")) as api:
        key = await setup(api)
        response = await api.client.post(
            "/api/v1/generate/image", json={**IMAGE, "webhook_url": url}, headers=auth(key)
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]["fields"][0]["field"] == "webhook_url"
        account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
        assert account["credits_reserved"] == 0


@IN_PROCESS_DNS
async def test_a_generation_webhook_url_naming_a_private_host_fails_at_delivery(
    tmp_path: Path, dns: FakeDns
) -> None:
    """A name is not resolved at create (no DNS on the create path); every delivery resolves
    it and refuses a private answer without connecting."""
    dns.add("internal.example", ["10.1.2.3"])
    settings = make_settings(tmp_path / "data", **{**FAST, "webhook_retry_schedule": "0.1"})
    async with open_api(settings) as api:
        key = await setup(api)
        job = await generate(api, key, webhook_url="https://internal.example/hook")
        query = select(WebhookDelivery).where(WebhookDelivery.generation_id == job["id"])
        deadline = time.monotonic() + 10
        while True:
            async with api.platform.db.read() as session:  # a fresh snapshot each time
                row = (await session.execute(query)).scalar_one()
            if row.status != "pending":
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    assert row.status == "dead" and row.attempts == 2 and row.last_status_code is None
    assert row.last_error and "non-public address" in row.last_error
    assert dns.lookups == ["internal.example", "internal.example"]


async def test_a_response_with_nul_bytes_is_recorded_readably(api: Api) -> None:
    # PostgreSQL refuses NUL in text and JSONB: the excerpt must never carry one.
    with LoopbackServer({"/hook": ok(b"fine\x00then", "text/plain")}) as server:
        key = await setup(api)
        hook = await register(api, key, server.url("/hook"))
        await generate(api, key)
        rows = await settled(api, key, hook["id"], 1)
    assert rows[0]["status"] == "succeeded"
    assert rows[0]["last_response_excerpt"] == "fine\ufffdthen"


async def test_an_account_has_a_bounded_number_of_endpoints(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", **FAST, webhook_max_endpoints=2)
    async with open_api(settings) as api:
        key = await setup(api)
        for index in range(2):
            await register(api, key, f"http://127.0.0.1:9/hook{index}")
        third = await api.client.post(
            "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook3"}, headers=auth(key)
        )
        assert third.status_code == 400
        assert third.json()["error"]["details"]["max_endpoints"] == 2
