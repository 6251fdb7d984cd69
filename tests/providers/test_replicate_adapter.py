"""The Replicate adapter and the shared HTTP layer over real HTTP to the fake: retries, waits,
and what each failure means; and the remote-job loop's rule for when to cancel."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from mediastudio.engines.contract import (
    STOP_CANCELLED,
    STOP_LOST,
    STOP_SHUTDOWN,
    JobCancelled,
    ModelSpec,
    ProviderError,
)
from mediastudio.engines.inputs import ImageInput
from mediastudio.engines.providers.http import ProviderRejected, retry_after
from mediastudio.engines.providers.jobs import JOB_KEY, Polling, run_remote
from mediastudio.engines.providers.replicate.client import Replicate, prediction
from mediastudio.engines.providers.replicate.mapping import hailuo_duration, z_image_turbo
from mediastudio.runtime.context import JobContext
from mediastudio.settings import ProviderSettings
from tests.providers.fake_replicate import FakeReplicate


async def no_pause(seconds: float) -> None:
    return None


def adapter(fake: FakeReplicate, **settings: Any) -> Replicate:
    values: dict[str, Any] = {"api_key": SecretStr(fake.token), "base_url": fake.base_url}
    return Replicate(ProviderSettings(**{**values, **settings}))


async def test_reads_are_retried_after_a_5xx_but_creates_are_not(fake: FakeReplicate) -> None:
    replicate = adapter(fake)
    created = await replicate.submit("a/b", {"prompt": "x"}, no_pause)
    fake.script("get", 503, {"detail": "unavailable"})
    assert (await replicate.status("a/b", created.id, no_pause)).state == "running"
    assert len(fake.requests("GET", "/v1/predictions/")) == 2
    fake.script("create", 503, {"detail": "unavailable"})
    with pytest.raises(ProviderError, match=r"failed \(503\): unavailable"):
        await replicate.submit("a/b", {"prompt": "x"}, no_pause)
    assert len(fake.requests("POST", "/v1/models/")) == 2  # one each: never re-created
    await replicate.aclose()


async def test_a_wrong_key_names_the_setting_and_never_the_key(fake: FakeReplicate) -> None:
    replicate = adapter(fake, api_key=SecretStr("r8_wrong_key_value"))
    with pytest.raises(ProviderError) as refused:
        await replicate.submit("a/b", {}, no_pause)
    assert "MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY" in refused.value.message
    assert "r8_wrong_key_value" not in refused.value.message
    await replicate.aclose()


async def test_a_provider_that_cannot_be_reached_is_provider_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ProviderSettings(api_key=SecretStr("k"), base_url=f"http://127.0.0.1:{port}")
    replicate = Replicate(settings)
    with pytest.raises(ProviderError, match="Could not reach Replicate"):
        await replicate.status("a/b", "abc", no_pause)
    await replicate.aclose()


async def test_rate_limits_beyond_the_wait_budget_give_up_with_the_hint(
    fake: FakeReplicate,
) -> None:
    replicate = adapter(fake, max_retry_wait_s=5)
    fake.script("create", 429, {"detail": "Request was throttled."}, **{"Retry-After": "30"})
    with pytest.raises(ProviderError) as throttled:
        await replicate.submit("a/b", {}, no_pause)
    assert throttled.value.retry_after == 30
    await replicate.aclose()


async def test_a_4xx_is_the_requests_fault(fake: FakeReplicate) -> None:
    fake.script("create", 404, {"detail": "The requested resource could not be found."})
    replicate = adapter(fake)
    with pytest.raises(ProviderRejected, match="could not be found"):
        await replicate.submit("nobody/nothing", {}, no_pause)
    await replicate.aclose()


def test_retry_after_reads_seconds_dates_and_replicates_wording() -> None:
    def answer(headers: dict[str, str], body: Any = None) -> httpx.Response:
        return httpx.Response(429, headers=headers, json=body or {})

    assert retry_after(answer({"Retry-After": "7"})) == 7
    later = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert (retry_after(later) or 0) > 3600
    worded = answer({}, {"detail": "Request was throttled. Expected available in 2 seconds."})
    assert retry_after(worded) == 2
    assert retry_after(answer({}, {"detail": "Your rate limit resets in ~30s."})) == 30
    assert retry_after(answer({})) is None


def test_predictions_are_read_as_the_client_reads_them() -> None:
    base = {"id": "p1", "status": "succeeded", "logs": ""}
    many = prediction({**base, "output": {"images": ["https://x/1.png", "https://x/2.png"]}})
    assert many.outputs == ("https://x/1.png", "https://x/2.png")
    assert prediction({**base, "output": "https://x/a.webp"}).outputs == ("https://x/a.webp",)
    running = prediction({**base, "status": "processing", "logs": "a\n 42%|████ | 21/50 [..]"})
    assert running.state == "running" and running.progress == 0.42
    refused = prediction({**base, "status": "failed", "error": "NSFW content detected."})
    assert refused.refused and refused.state == "failed"
    crashed = prediction({**base, "status": "failed", "error": "CUDA out of memory"})
    assert not crashed.refused
    with pytest.raises(ProviderError):
        prediction({**base, "status": "exploded"})


def test_inputs_map_to_the_models_own_names() -> None:
    wide = z_image_turbo(ImageInput(prompt="x", aspect_ratio="3:2", seed=7), {})
    assert (wide["width"], wide["height"], wide["seed"]) == (1024, 688, 7)  # 16-pixel steps
    assert [hailuo_duration(s) for s in (1, 6, 7, 10)] == [6, 6, 10, 10]


# The loop's rule: cancel the provider's job only when nobody will resume it ------------------


class Jobs:
    name = "replicate"

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.submitted = 0

    async def submit(self, target: str, payload: dict[str, Any], pause: Any) -> Any:
        self.submitted += 1
        return prediction({"id": "p1", "status": "starting"})

    async def status(self, target: str, job_id: str, pause: Any) -> Any:
        return prediction({"id": job_id, "status": "processing"})

    async def cancel(self, target: str, job_id: str) -> None:
        self.cancelled.append(job_id)


def context(tmp_path: Path, checkpoint: dict[str, Any] | None = None) -> JobContext:
    spec = ModelSpec("x/y", "x", "image", ImageInput, 1)
    return JobContext(
        generation_id="gen_1",
        model=spec,
        input=ImageInput(prompt="x"),
        sandbox=False,
        workdir=tmp_path,
        fetcher=None,  # type: ignore[arg-type]
        checkpoint=checkpoint,
    )


async def payload() -> dict[str, Any]:
    return {}


@pytest.mark.parametrize(
    ("reason", "cancelled"),
    [(STOP_CANCELLED, ["p1"]), (STOP_SHUTDOWN, []), (STOP_LOST, [])],
)
async def test_the_provider_job_is_cancelled_only_when_nobody_resumes_it(
    tmp_path: Path, reason: str, cancelled: list[str]
) -> None:
    jobs, ctx = Jobs(), context(tmp_path)
    task = asyncio.create_task(run_remote(ctx, jobs, "a/b", payload, Polling(first=0.01)))
    while ctx.recall(JOB_KEY) is None:
        await asyncio.sleep(0.01)
    ctx.cancel(reason)
    with pytest.raises(JobCancelled):
        await task
    assert jobs.cancelled == cancelled and jobs.submitted == 1


async def test_a_remembered_job_is_resumed_not_submitted(tmp_path: Path) -> None:
    jobs = Jobs()
    ctx = context(tmp_path, {JOB_KEY: {"provider": "replicate", "target": "a/b", "id": "p9"}})
    task = asyncio.create_task(run_remote(ctx, jobs, "a/b", payload, Polling(first=0.01)))
    await asyncio.sleep(0.05)
    ctx.cancel(STOP_SHUTDOWN)
    with pytest.raises(JobCancelled):
        await task
    assert jobs.submitted == 0 and ctx.provider == "replicate"
