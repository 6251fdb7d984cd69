"""The fal adapter against the fake fal: the queue protocol, its error shapes, and how our
inputs map to fal's models."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from mediastudio.engines.contract import InvalidPrompt, ProviderError
from mediastudio.engines.inputs import ImageInput, VideoInput
from mediastudio.engines.providers.fal import mapping
from mediastudio.engines.providers.fal.client import Fal, app_root, file_urls
from mediastudio.engines.providers.inputs import GenericImageInput, GenericVideoInput
from mediastudio.engines.providers.jobs import RemoteJob
from mediastudio.engines.providers.replicate.mapping import flux_schnell, nearest_aspect
from mediastudio.settings import ProviderSettings
from tests.providers.fake_fal import CONTENT_POLICY, SCHEDULING_FAILURE, FakeFal, Plan

FLUX = "fal-ai/flux/schnell"


async def no_pause(seconds: float) -> None:
    return None


def adapter(fal: FakeFal, **settings: Any) -> Fal:
    values: dict[str, Any] = {"api_key": SecretStr(fal.key), "base_url": fal.base_url}
    return Fal(ProviderSettings(**{**values, **settings}))


async def until_done(client: Fal, target: str, job_id: str) -> RemoteJob:
    job = await client.status(target, job_id, no_pause)
    while job.state in ("queued", "running"):
        job = await client.status(target, job_id, no_pause)
    return job


async def test_a_request_is_queued_polled_and_its_files_listed(fal: FakeFal) -> None:
    client = adapter(fal)
    submitted = await client.submit(FLUX, {"prompt": "a fox", "num_images": 1}, no_pause)
    assert submitted.state == "queued"
    [sent] = fal.requests("POST")
    assert sent.path == f"/{FLUX}" and sent.body == {"prompt": "a fox", "num_images": 1}
    assert sent.headers["authorization"] == f"Key {fal.key}"
    states = []
    job = submitted
    while job.state != "succeeded":
        job = await client.status(FLUX, submitted.id, no_pause)
        states.append((job.state, job.progress))
    assert states == [("queued", None), ("running", 0.5), ("succeeded", None)]
    assert job.outputs == (f"{fal.base_url}/files/{submitted.id}/0.png",)
    # Logs asked for, on the URLs the submit answered (the app's root, not the endpoint path).
    reads = fal.requests("GET", f"/fal-ai/flux/requests/{submitted.id}")
    assert [r.path.rsplit("/", 1)[-1] for r in reads] == ["status"] * 3 + [submitted.id]
    await client.aclose()


async def test_a_new_process_reaches_a_request_by_its_id(fal: FakeFal) -> None:
    first = adapter(fal)
    submitted = await first.submit(FLUX, {"prompt": "x"}, no_pause)
    await first.aclose()
    resumed = adapter(fal)  # knows nothing of the submit's URLs: builds them
    assert (await until_done(resumed, FLUX, submitted.id)).state == "succeeded"
    await resumed.aclose()


async def test_urls_elsewhere_than_the_base_url_are_not_followed(fal: FakeFal) -> None:
    foreign = "http://169.254.169.254/latest"
    answer = {
        "request_id": "r1",
        "status_url": foreign,
        "response_url": foreign,
        "cancel_url": foreign,
    }
    fal.script("submit", 200, answer)
    client = adapter(fal)
    job = await client.submit(FLUX, {"prompt": "x"}, no_pause)
    with pytest.raises(ProviderError, match="no longer knows request r1"):
        await client.status(FLUX, job.id, no_pause)
    # The key went to the configured base URL, on the path fal's client would build.
    assert fal.requests("GET")[-1].path == "/fal-ai/flux/requests/r1/status"
    await client.aclose()


async def test_a_submit_is_never_repeated_after_a_5xx(fal: FakeFal) -> None:
    fal.script("submit", 500, {"detail": "Internal Server Error"})
    client = adapter(fal)
    with pytest.raises(ProviderError, match=r"fal failed \(500\)"):
        await client.submit(FLUX, {"prompt": "x"}, no_pause)
    assert len(fal.requests("POST")) == 1
    await client.aclose()


async def test_a_request_error_is_the_outcome_but_an_ingress_error_is_asked_again(
    fal: FakeFal,
) -> None:
    client = adapter(fal)
    fal.plans.append(Plan(error=SCHEDULING_FAILURE))
    failed = await client.submit(FLUX, {"prompt": "x"}, no_pause)
    job = await until_done(client, FLUX, failed.id)
    assert job.state == "failed" and not job.refused and not job.invalid
    assert job.error == "No runner could be allocated (runner_scheduling_failure)"
    assert len(fal.requests("GET", f"/fal-ai/flux/requests/{failed.id}")) == 4  # 3 polls + 1
    ok = await client.submit(FLUX, {"prompt": "x"}, no_pause)
    fal.script("result", 502, {"message": "502 Bad Gateway nginx"})  # no x-fal-request-id
    assert (await until_done(client, FLUX, ok.id)).state == "succeeded"
    assert len(fal.requests("GET", f"/fal-ai/flux/requests/{ok.id}")) == 5  # result read twice
    await client.aclose()


async def test_refusals_and_invalid_input(fal: FakeFal) -> None:
    client = adapter(fal)
    for plan, expected in (
        (Plan(error=CONTENT_POLICY), "refused"),
        (Plan(nsfw=True), "refused"),
        (
            Plan(error=(422, {"detail": [{"loc": ["body", "seed"], "msg": "bad", "type": "x"}]})),
            "invalid",
        ),
    ):
        fal.plans.append(plan)
        queued = await client.submit(FLUX, {"prompt": "x"}, no_pause)
        job = await until_done(client, FLUX, queued.id)
        assert job.state == "failed" and getattr(job, expected), (plan, job)
    assert job.error == "seed: bad"  # a typed error list, read as one line
    fal.script("submit", *CONTENT_POLICY)
    with pytest.raises(InvalidPrompt, match="flagged by a content checker"):
        await client.submit(FLUX, {"prompt": "x"}, no_pause)
    await client.aclose()


async def test_cancel_stops_a_request_and_tolerates_one_already_done(fal: FakeFal) -> None:
    fal.plans.append(Plan(stall=True))
    client = adapter(fal)
    stalled = await client.submit(FLUX, {"prompt": "x"}, no_pause)
    await client.status(FLUX, stalled.id, no_pause)
    await client.cancel(FLUX, stalled.id)
    assert fal.cancelled == [stalled.id]
    assert (await client.status(FLUX, stalled.id, no_pause)).state == "canceled"
    await client.cancel(FLUX, stalled.id)  # ALREADY_COMPLETED: nothing to stop
    await client.cancel(FLUX, "no-such-request")  # NOT_FOUND: nothing to stop
    assert [r.method for r in fal.requests("PUT")] == ["PUT"] * 3
    await client.aclose()


async def test_429s_are_waited_out_within_the_budget(fal: FakeFal) -> None:
    client = adapter(fal, max_retry_wait_s=5)
    fal.script("submit", 429, {"detail": "Rate limit exceeded"}, **{"Retry-After": "0"})
    await client.submit(FLUX, {"prompt": "x"}, no_pause)
    assert len(fal.requests("POST")) == 2
    fal.script("submit", 429, {"detail": "Rate limit exceeded"}, **{"Retry-After": "30"})
    with pytest.raises(ProviderError, match="kept rate limiting") as throttled:
        await client.submit(FLUX, {"prompt": "x"}, no_pause)
    assert throttled.value.retry_after == 30
    await client.aclose()


async def test_a_wrong_key_names_the_setting_and_never_the_key(fal: FakeFal) -> None:
    client = adapter(fal, api_key=SecretStr("wrong-id:wrong-secret"))
    with pytest.raises(ProviderError) as refused:
        await client.submit(FLUX, {}, no_pause)
    assert "MEDIASTUDIO_PROVIDERS__FAL__API_KEY" in refused.value.message
    assert "wrong-secret" not in refused.value.message
    await client.aclose()


def test_request_urls_name_the_app_and_results_list_their_files() -> None:
    assert app_root("fal-ai/flux/schnell") == "fal-ai/flux"
    assert app_root("fal-ai/z-image/turbo") == "fal-ai/z-image"
    assert app_root("workflows/acme/pipeline/run") == "workflows/acme/pipeline"
    result = {
        "images": [{"url": "https://v3.fal.media/a.png"}, {"url": "https://v3.fal.media/b.png"}],
        "video": {"url": "https://v3.fal.media/c.mp4", "content_type": "video/mp4"},
        "seed": 1,
        "prompt": "not a url",
    }
    assert list(file_urls(result)) == [
        "https://v3.fal.media/a.png",
        "https://v3.fal.media/b.png",
        "https://v3.fal.media/c.mp4",
    ]


def test_inputs_map_to_fals_names() -> None:
    wide = mapping.flux_schnell(
        ImageInput(prompt="x", aspect_ratio="3:2", output_format="webp"), {}
    )
    assert wide == {
        "prompt": "x",
        "image_size": {"width": 1216, "height": 832},  # what Replicate's FLUX renders for 3:2
        "num_images": 1,
        "output_format": "png",  # FLUX schnell on fal writes JPEG or PNG only
    }
    sized = mapping.z_image_turbo(ImageInput(prompt="x", aspect_ratio="3:2"), {})
    assert sized["image_size"] == {"width": 1024, "height": 688}  # Z-Image takes any size
    z_image = mapping.z_image_turbo(ImageInput(prompt="x", output_format="jpg", seed=3), {})
    assert (z_image["output_format"], z_image["seed"]) == ("jpeg", 3)
    video = VideoInput(prompt="waves", duration=7, first_frame_image="https://x/a.png")
    assert mapping.hailuo(video, {"first_frame_image": "data:image/png;base64,AA"}) == {
        "prompt": "waves",
        "duration": "10",
        "image_url": "data:image/png;base64,AA",
    }
    generic = mapping.generic(
        GenericImageInput(prompt="x", width=512, num_outputs=2, options={"guidance": 2}), {}
    )
    assert generic == {
        "guidance": 2,
        "prompt": "x",
        "num_images": 2,
        "image_size": {"width": 512, "height": 512},
    }
    moving = mapping.generic(GenericVideoInput(prompt="x"), {"first_frame_image": "data:x"})
    assert moving == {"prompt": "x", "image_url": "data:x"}


def test_replicates_flux_takes_the_nearest_of_its_aspect_ratios() -> None:
    assert nearest_aspect(1920, 1080) == "16:9" and nearest_aspect(1000, 1010) == "1:1"
    assert nearest_aspect(512, 1100) == "9:21"
    sized = flux_schnell(ImageInput(prompt="x", width=1200, height=900, num_outputs=2), {})
    assert (sized["aspect_ratio"], sized["num_outputs"]) == ("4:3", 2)
    assert "width" not in sized
