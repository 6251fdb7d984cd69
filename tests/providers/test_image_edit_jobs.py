"""Image editing (``POST /generate/image-edit``), end to end through the ASGI app against the
fakes: ``flux-kontext`` on Replicate (the image sent inline, Kontext's frame decoded) failing
over to fal for one charge, its prediction cancelled with the job; ``openai/gpt-image-1.5-edit``
through ``POST /v1/images/edits`` (the image and mask sent as files, the images decoded); input
refused before any provider is called; sandbox keys never calling."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import Api, auth, open_api
from tests.providers.conftest import openai_settings, providers_settings
from tests.providers.fake_fal import FakeFal
from tests.providers.fake_openai import REFUSED_WORD, FakeOpenAI
from tests.providers.fake_replicate import FakeReplicate, Plan, data_uri_bytes
from tests.providers.test_replicate_jobs import _until, balance, create, ledger_kinds, live_key
from tests.providers.test_replicate_media import upload

EDIT = "/api/v1/generate/image-edit"
EDITS = "/v1/images/edits"
KONTEXT_ROUTE = "replicate/black-forest-labs/flux-kontext-pro"
FAL_KONTEXT_ROUTE = "fal/fal-ai/flux-pro/kontext"


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    colour: Any = (0, 0, 0, 0) if mode == "RGBA" else (90, 140, 60)
    buffer = io.BytesIO()
    Image.new(mode, (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(content: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


async def decoded(api: Api, output: dict[str, Any]) -> tuple[str | None, tuple[int, int]]:
    response = await api.client.get(output["url"])
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.content)) as image:
        return image.format, image.size


@pytest.fixture
async def both(tmp_path: Path, fake: FakeReplicate, fal: FakeFal) -> AsyncIterator[Api]:
    async with open_api(providers_settings(tmp_path / "data", replicate=fake, fal=fal)) as opened:
        yield opened


# --- flux-kontext ----------------------------------------------------------------------------


async def test_the_default_edit_model_edits_an_upload_on_replicate(
    both: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    key = await live_key(both, credits=100)
    frame = png(320, 480)
    body = {"image_url": await upload(both, key, frame), "prompt": "add a red hat", "seed": 3}
    job = await create(both, key, EDIT, body)
    assert (job["type"], job["model"], job["credits_reserved"]) == (
        "image-edit",
        "flux-kontext",
        70,
    )
    done = await both.wait(key, job["id"])
    assert done["status"] == "completed", done
    assert done["provider"] == "replicate" and done["credits_charged"] == 70
    [prediction] = fake.creates
    assert prediction.model == "black-forest-labs/flux-kontext-pro"
    sent = dict(prediction.input)
    assert data_uri_bytes(sent.pop("input_image")) == frame  # read by us, sent inline
    assert sent == {
        "prompt": "add a red hat",
        "aspect_ratio": "match_input_image",
        "output_format": "png",
        "seed": 3,
    }
    [output] = done["outputs"]
    assert await decoded(both, output) == ("PNG", (832, 1248))  # Kontext's 2:3 frame
    assert (output["width"], output["height"]) == (832, 1248)
    assert await ledger_kinds(both, key, job["id"]) == {"reserve": [70], "capture": [-70]}
    assert await balance(both, key) == (30, 0)
    assert fal.submits == []


async def test_a_replicate_failure_hands_the_edit_to_fal_for_one_charge(
    both: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    fake.script("create", 500, {"title": "Internal Server Error", "detail": "boom"})
    key = await live_key(both, credits=100)
    image = png(300, 200)
    body = {
        "model": "flux-kontext",
        "image_url": data_uri(image),
        "prompt": "make it snow",
        "aspect_ratio": "16:9",
        "output_format": "jpg",
        "safety_tolerance": 1,
    }
    done = await both.wait(key, (await create(both, key, EDIT, body))["id"])
    assert done["status"] == "completed", done
    assert done["provider"] == "fal" and done["credits_charged"] == 70
    assert [(a["route"], a["outcome"]) for a in done["attempts"]] == [
        (KONTEXT_ROUTE, "failed_over"),
        (FAL_KONTEXT_ROUTE, "succeeded"),
    ]
    [submit] = fal.submits
    assert submit.endpoint == "fal-ai/flux-pro/kontext"
    sent = dict(submit.input)
    assert data_uri_bytes(sent.pop("image_url")) == image
    assert sent == {
        "prompt": "make it snow",
        "aspect_ratio": "16:9",
        "output_format": "jpeg",
        "safety_tolerance": "1",
        "num_images": 1,
    }
    [output] = done["outputs"]
    assert (await decoded(both, output))[0] == "PNG"  # what fal delivered, stored as it is
    assert await ledger_kinds(both, key, done["id"]) == {"reserve": [70], "capture": [-70]}


async def test_cancelling_an_edit_cancels_its_prediction(both: Api, fake: FakeReplicate) -> None:
    fake.plans.append(Plan(stall=True))
    key = await live_key(both, credits=100)
    body = {"model": "flux-kontext", "image_url": data_uri(png(64, 64)), "prompt": "x"}
    job = await create(both, key, EDIT, body)
    await both.wait(key, job["id"], until=lambda found: found["progress"] >= 10)
    [prediction] = fake.creates
    cancelled = await both.client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(key))
    assert cancelled.json()["status"] == "cancelled"
    await _until(lambda: fake.cancelled == [prediction.id])
    assert await balance(both, key) == (100, 0)


@pytest.mark.parametrize(
    ("image_url", "message"),
    [
        (data_uri(b"not an image at all"), "image_url is not an image"),
        ("https://10.0.0.1/photo.png", "non-public address"),  # refused by the SSRF-safe fetcher
    ],
)
async def test_an_unusable_image_fails_the_edit_before_any_provider_is_called(
    both: Api, fake: FakeReplicate, fal: FakeFal, image_url: str, message: str
) -> None:
    key = await live_key(both, credits=100)
    body = {"model": "flux-kontext", "image_url": image_url, "prompt": "x"}
    done = await both.wait(key, (await create(both, key, EDIT, body))["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_input", done
    assert message in done["error"]["message"]
    assert fake.creates == [] and fal.submits == []
    assert await balance(both, key) == (100, 0)


async def test_a_safety_tolerance_kontext_refuses_with_an_image_is_a_400(both: Api) -> None:
    key = await live_key(both, credits=100)
    body = {"model": "flux-kontext", "image_url": data_uri(png(64, 64)), "prompt": "x"}
    response = await both.client.post(EDIT, json={**body, "safety_tolerance": 5}, headers=auth(key))
    assert response.status_code == 400, response.text


async def test_sandbox_edits_have_the_live_shapes_and_call_nobody(
    both: Api, fake: FakeReplicate, fal: FakeFal
) -> None:
    sandbox = await both.key(await both.account(), sandbox=True)
    body = {"image_url": data_uri(png(480, 320)), "prompt": "x", "output_format": "jpg"}
    done = await both.wait(sandbox, (await create(both, sandbox, EDIT, body))["id"])
    assert done["status"] == "completed" and done["sandbox"] is True, done
    assert done["model"] == "flux-kontext"
    [output] = done["outputs"]
    assert await decoded(both, output) == ("JPEG", (1248, 832))
    assert fake.received == [] and fal.received == []


# --- OpenAI ----------------------------------------------------------------------------------


async def test_gpt_image_edits_send_the_image_and_mask_as_files(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=200)
        image, mask = png(640, 360), png(640, 360, "RGBA")
        body = {
            "model": "openai/gpt-image-1.5-edit",
            "image_url": await upload(api, key, image),
            "mask": data_uri(mask),
            "prompt": "a blue sky",
            "num_outputs": 2,
            "output_format": "jpg",
            "quality": "low",
            "input_fidelity": "high",
        }
        job = await create(api, key, EDIT, body)
        assert job["credits_reserved"] == 140
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        assert done["provider"] == "openai" and done["credits_charged"] == 140
        [call] = openai_fake.calls(EDITS)
        assert call.headers["authorization"] == f"Bearer {openai_fake.key}"
        assert call.headers["content-type"].startswith("multipart/form-data")
        sent = dict(call.body)
        assert sent.pop("image")["data"] == image
        assert sent.pop("mask")["data"] == mask
        assert sent == {
            "model": "gpt-image-1.5",
            "prompt": "a blue sky",
            "n": "2",
            "size": "1536x1024",  # the nearest of OpenAI's sizes to the image's 16:9
            "output_format": "jpeg",
            "quality": "low",
            "input_fidelity": "high",
        }
        assert len(done["outputs"]) == 2
        for output in done["outputs"]:
            assert await decoded(api, output) == ("JPEG", (1536, 1024))
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [140], "capture": [-140]}


async def test_an_edit_openai_refuses_is_invalid_prompt_refunded(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {
            "image_url": data_uri(png(64, 64)),
            "prompt": f"something {REFUSED_WORD}",
            "aspect_ratio": "9:16",
        }
        job = await create(api, key, EDIT, body)
        assert job["model"] == "openai/gpt-image-1.5-edit"  # the one edit model with a key
        done = await api.wait(key, job["id"])
        assert done["status"] == "failed" and done["error"]["code"] == "invalid_prompt", done
        assert openai_fake.calls(EDITS)[0].body["size"] == "1024x1536"
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [70], "refund": [-70]}


def gif(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="GIF")
    return buffer.getvalue()


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image", "mask", "message"),
    [
        (data_uri(png(64, 64)), data_uri(b"nope"), "The mask is not an image"),
        (data_uri(gif(64, 64), "image/gif"), None, "image_url as PNG or JPEG or WEBP"),
        (data_uri(png(64, 64)), data_uri(jpeg(64, 64), "image/jpeg"), "mask as PNG"),
    ],
)
async def test_what_openai_would_refuse_is_refused_before_it_is_called(
    tmp_path: Path, openai_fake: FakeOpenAI, image: str, mask: str | None, message: str
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"model": "openai/gpt-image-1.5-edit", "image_url": image, "prompt": "x"}
        if mask is not None:
            body["mask"] = mask
        done = await api.wait(key, (await create(api, key, EDIT, body))["id"])
        assert done["status"] == "failed" and done["error"]["code"] == "invalid_input", done
        assert message in done["error"]["message"]
        assert openai_fake.received == []
        assert await balance(api, key) == (100, 0)


async def test_a_restart_mid_edit_polls_the_same_prediction(
    tmp_path: Path, fake: FakeReplicate, fal: FakeFal
) -> None:
    fake.plans.append(Plan(stall=True))
    settings = providers_settings(tmp_path / "data", replicate=fake, fal=fal)
    async with open_api(settings) as api:
        key = await live_key(api, credits=100)
        body = {"model": "flux-kontext", "image_url": data_uri(png(320, 480)), "prompt": "x"}
        job = await create(api, key, EDIT, body)
        await api.wait(key, job["id"], until=lambda found: found["progress"] >= 10)
    # Stopped: the prediction keeps running at Replicate, remembered with the job.
    [prediction] = fake.creates
    assert fake.cancelled == []
    fake.release()
    async with open_api(settings) as api:
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        assert len(fake.creates) == 1 and fal.submits == []  # resumed, not submitted again
        assert done["attempts"][0]["job_id"] == prediction.id
        assert await decoded(api, done["outputs"][0]) == ("PNG", (832, 1248))
        assert await ledger_kinds(api, key, job["id"]) == {"reserve": [70], "capture": [-70]}
