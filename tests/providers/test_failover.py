"""Failover between providers, end to end against both fakes (``flux-schnell``: Replicate's
route first, then fal's): a provider failure hands the job to the next route for one charge;
a refusal, a pin or ``fallback: false`` keeps it where it is; every attempt is reported; a
restart resumes the route it had reached."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, open_api
from tests.providers.conftest import providers_settings
from tests.providers.fake_fal import FakeFal, Plan
from tests.providers.fake_replicate import FakeReplicate
from tests.providers.fake_replicate import Plan as ReplicatePlan
from tests.providers.test_replicate_jobs import balance, create, ledger_kinds, live_key

FLUX = {"model": "flux-schnell", "prompt": "a red bicycle", "width": 256, "height": 256}
REPLICATE_ROUTE = "replicate/black-forest-labs/flux-schnell"
FAL_ROUTE = "fal/fal-ai/flux/schnell"


@pytest.fixture
def silent() -> Iterator[str]:
    """A base URL that accepts connections and never answers (a provider that hangs)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
async def api(tmp_path: Path, fake: FakeReplicate, fal: FakeFal) -> AsyncIterator[Api]:
    async with open_api(providers_settings(tmp_path / "data", replicate=fake, fal=fal)) as opened:
        yield opened


async def run(api: Api, body: dict[str, Any], key: str | None = None) -> tuple[str, dict[str, Any]]:
    """Make the job (with a fresh account holding 100 credits, unless given a key) and wait."""
    key = key or await live_key(api, credits=100)
    job = await create(api, key, "/api/v1/generate/image", body)
    return key, await api.wait(key, job["id"])


def outline(done: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(a["route"], a["outcome"], a["error_code"]) for a in done["attempts"]]


def replicate_creates(fake: FakeReplicate) -> int:
    return len(fake.requests("POST", "/v1/models/"))


@pytest.mark.parametrize("failure", ["server_error", "timeout", "rate_limited", "queue_timeout"])
async def test_a_failing_first_provider_hands_the_job_to_the_next_for_one_charge(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal, silent: str, failure: str
) -> None:
    replicate: dict[str, Any] = {}
    if failure == "server_error":
        fake.script("create", 500, {"title": "Internal Server Error", "detail": "boom"})
    elif failure == "timeout":
        replicate = {"base_url": silent, "timeout_s": 0.5}
    elif failure == "rate_limited":  # Retry-After beyond the budget: no point waiting
        fake.script("create", 429, {"detail": "Request was throttled."}, **{"Retry-After": "30"})
        replicate = {"max_retry_wait_s": 1}
    else:  # stuck in Replicate's queue ("starting") past the queue timeout
        fake.plans.append(ReplicatePlan(statuses=("starting",)))
        replicate = {"queue_timeout_s": 0.3}
    settings = providers_settings(
        tmp_path / "data", replicate=fake, fal=fal, replicate_options=replicate
    )
    async with open_api(settings) as api:
        key, done = await run(api, FLUX)
        assert done["status"] == "completed", done
        assert done["provider"] == "fal" and done["credits_charged"] == 5
        assert outline(done) == [
            (REPLICATE_ROUTE, "failed_over", "provider_error"),
            (FAL_ROUTE, "succeeded", None),
        ]
        assert done["attempts"][1]["job_id"] == fal.submits[0].id
        assert len(fal.submits) == 1 and done["outputs"][0]["width"] == 1024
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [5], "capture": [-5]}
        assert await balance(api, key) == (95, 0)
    if failure == "queue_timeout":  # the abandoned prediction was cancelled, not left to run
        assert fake.cancelled == [fake.creates[0].id]
        assert "queue" in done["attempts"][0]["error"]
    if failure == "timeout":
        assert "did not answer in time" in done["attempts"][0]["error"]


async def test_when_every_provider_fails_the_job_fails_refunded(
    api: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    fake.script("create", 503, {"detail": "Service Unavailable"})
    fal.script("submit", 500, {"detail": "Internal Server Error"})
    key, done = await run(api, FLUX)
    assert done["status"] == "failed" and done["error"]["code"] == "provider_error", done
    assert "fal failed (500)" in done["error"]["message"]
    assert outline(done) == [
        (REPLICATE_ROUTE, "failed_over", "provider_error"),
        (FAL_ROUTE, "failed", "provider_error"),
    ]
    assert await ledger_kinds(api, key, done["id"]) == {"reserve": [5], "refund": [-5]}
    assert await balance(api, key) == (100, 0)


async def test_a_content_policy_refusal_does_not_fail_over(
    api: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    fake.plans.append(
        ReplicatePlan(statuses=("starting", "failed"), error="NSFW content detected.")
    )
    key, done = await run(api, FLUX)
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_prompt", done
    assert outline(done) == [(REPLICATE_ROUTE, "failed", "invalid_prompt")]
    assert fal.received == []
    assert await balance(api, key) == (100, 0)


async def test_invalid_input_does_not_fail_over(
    api: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    fake.script("create", 422, {"title": "Input validation failed", "detail": "- seed: too big"})
    key, done = await run(api, FLUX)
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_input", done
    assert outline(done) == [(REPLICATE_ROUTE, "failed", "invalid_input")]
    assert fal.received == []
    assert await balance(api, key) == (100, 0)


async def test_a_pinned_provider_alone_runs_the_job(
    api: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    key, done = await run(api, {**FLUX, "provider": "fal"})
    assert done["status"] == "completed" and done["provider"] == "fal", done
    assert outline(done) == [(FAL_ROUTE, "succeeded", None)]
    assert done["input"]["provider"] == "fal"
    fal.script("submit", 500, {"detail": "Internal Server Error"})
    key, failed = await run(api, {**FLUX, "provider": "fal"}, key)
    assert failed["error"]["code"] == "provider_error"
    assert outline(failed) == [(FAL_ROUTE, "failed", "provider_error")]
    assert fake.received == []  # Replicate was never asked, though it would have served
    assert await balance(api, key) == (95, 0)  # the first job's charge, the second refunded


async def test_without_fallback_the_first_error_ends_the_job(
    api: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    fake.script("create", 500, {"detail": "boom"})
    key, done = await run(api, {**FLUX, "fallback": False})
    assert done["status"] == "failed" and done["error"]["code"] == "provider_error", done
    assert outline(done) == [(REPLICATE_ROUTE, "failed", "provider_error")]
    assert fal.received == [] and replicate_creates(fake) == 1
    assert await balance(api, key) == (100, 0)


async def test_pinning_a_provider_without_a_key_fails_refunded(
    tmp_path: Path, fal: FakeFal
) -> None:
    async with open_api(providers_settings(tmp_path / "data", fal=fal)) as api:
        key, done = await run(api, {**FLUX, "provider": "replicate"})
        assert done["status"] == "failed" and done["error"]["code"] == "provider_error"
        assert "MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY" in done["error"]["message"]
        assert done["attempts"] == [] and fal.received == []
        assert await balance(api, key) == (100, 0)
        unknown = await api.client.post(
            "/api/v1/generate/image",
            json={**FLUX, "provider": "dalle3"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert unknown.status_code == 400 and "provider" in unknown.text


async def test_a_restart_resumes_the_route_it_had_reached(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal
) -> None:
    fake.script("create", 500, {"detail": "boom"})
    fal.plans.append(Plan(stall=True))
    settings = providers_settings(tmp_path / "data", replicate=fake, fal=fal)
    async with open_api(settings) as api:
        key = await live_key(api, credits=100)
        job = await create(api, key, "/api/v1/generate/image", FLUX)
        running = await api.wait(key, job["id"], until=lambda body: body["progress"] >= 10)
        assert running["provider"] == "fal"
        assert outline(running) == [(REPLICATE_ROUTE, "failed_over", "provider_error")]
    fal.release()
    async with open_api(settings) as api:
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        # Neither a second Replicate create nor a second fal submit: the same request resumed.
        assert replicate_creates(fake) == 1 and len(fal.submits) == 1
        assert outline(done) == [
            (REPLICATE_ROUTE, "failed_over", "provider_error"),
            (FAL_ROUTE, "succeeded", None),
        ]
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [5], "capture": [-5]}


async def test_a_healthy_first_route_serves_alone(
    api: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    _, done = await run(api, {**FLUX, "width": 1200, "height": 900, "output_format": "jpg"})
    assert done["status"] == "completed" and done["provider"] == "replicate", done
    assert outline(done) == [(REPLICATE_ROUTE, "succeeded", None)]
    [prediction] = fake.creates
    assert prediction.model == "black-forest-labs/flux-schnell"
    assert prediction.input == {
        "prompt": "a red bicycle",
        "aspect_ratio": "4:3",  # FLUX takes ratios, not sizes: the nearest one
        "num_outputs": 1,
        "output_format": "jpg",
    }
    assert fal.received == []


async def test_sandbox_keys_get_the_flux_shape_without_any_provider(
    api: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    account = await api.account(credits=0)
    key = await api.key(account, sandbox=True)
    job = await create(api, key, "/api/v1/generate/image", {**FLUX, "num_outputs": 2})
    done = await api.wait(key, job["id"])
    assert done["status"] == "completed" and done["provider"] is None, done
    assert [(o["width"], o["height"], o["content_type"]) for o in done["outputs"]] == [
        (1024, 1024, "image/png")
    ] * 2
    assert done["attempts"] == [] and fake.received == [] and fal.received == []
