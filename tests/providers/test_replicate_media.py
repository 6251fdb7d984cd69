"""What crosses the boundary with Replicate: an uploaded first frame reaches the model as a
data: URI (a large one through Replicate's file API), text-only video takes Hailuo's
text-to-video sibling, videos come back probed, and any Replicate model runs generically."""

from __future__ import annotations

import io
import os
from typing import Any

from PIL import Image

from tests.conftest import Api, auth
from tests.providers.fake_replicate import FakeReplicate, Plan, data_uri_bytes
from tests.providers.test_replicate_jobs import create, live_key

HAILUO = "minimax/hailuo-2.3-fast"


def png_bytes(width: int, height: int, *, noisy: bool = False) -> bytes:
    image = (
        Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        if noisy
        else Image.new("RGB", (width, height), (200, 30, 30))
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def upload(api: Api, key: str, content: bytes) -> str:
    response = await api.client.post(
        "/api/v1/files", files={"file": ("frame.png", content, "image/png")}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


async def test_an_uploaded_first_frame_reaches_hailuo_fast_as_a_data_uri(
    api: Api, fake: FakeReplicate
) -> None:
    fake.plans.append(Plan(kind="video"))
    key = await live_key(api)
    frame = png_bytes(48, 32)
    body = {"model": HAILUO, "prompt": "the bicycle rolls", "duration": 8}
    body["first_frame_image"] = await upload(api, key, frame)
    job = await create(api, key, "/api/v1/generate/video", body)
    assert job["credits_reserved"] == 450

    done = await api.wait(key, job["id"])
    assert done["status"] == "completed", done
    [prediction] = fake.creates
    assert prediction.model == "minimax/hailuo-2.3-fast"
    assert prediction.input["prompt"] == "the bicycle rolls"
    assert prediction.input["duration"] == 10  # Hailuo renders 6 or 10 s
    assert prediction.input["first_frame_image"].startswith("data:image/png;base64,")
    assert data_uri_bytes(prediction.input["first_frame_image"]) == frame
    output = done["outputs"][0]
    assert (output["content_type"], output["width"], output["height"]) == ("video/mp4", 64, 64)
    assert 0.9 <= output["duration_s"] <= 1.1  # probed from the copied file
    video = await api.client.get(output["url"])
    assert video.content[4:8] == b"ftyp"


async def test_text_only_video_takes_hailuo_text_to_video(api: Api, fake: FakeReplicate) -> None:
    fake.plans.append(Plan(kind="video"))
    key = await live_key(api)
    body = {"model": HAILUO, "prompt": "waves at dusk", "options": {"prompt_optimizer": False}}
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/video", body))["id"])
    assert done["status"] == "completed", done
    [prediction] = fake.creates
    assert prediction.model == "minimax/hailuo-2.3"
    assert prediction.input == {"prompt": "waves at dusk", "duration": 6, "prompt_optimizer": False}


async def test_a_large_first_frame_goes_through_replicates_file_api(
    api: Api, fake: FakeReplicate
) -> None:
    fake.plans.append(Plan(kind="video"))
    key = await live_key(api)
    frame = png_bytes(700, 700, noisy=True)
    assert len(frame) > 1024 * 1024
    body = {"model": HAILUO, "prompt": "x", "first_frame_image": await upload(api, key, frame)}
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/video", body))["id"])
    assert done["status"] == "completed", done
    [(file_id, stored)] = fake.files.items()
    assert stored == frame
    assert fake.creates[0].input["first_frame_image"] == f"{fake.base_url}/v1/files/{file_id}"


async def test_a_first_frame_that_is_no_image_is_invalid_input(
    api: Api, fake: FakeReplicate
) -> None:
    key = await live_key(api, credits=1000)
    body: dict[str, Any] = {"model": HAILUO, "prompt": "x"}
    body["first_frame_image"] = "data:image/png;base64," + "aGVsbG8="  # "hello"
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/video", body))["id"])
    assert done["error"]["code"] == "invalid_input", done
    assert fake.creates == []  # refused before anything was submitted


async def test_any_replicate_model_runs_generically_with_its_own_options(
    api: Api, fake: FakeReplicate
) -> None:
    fake.plans.append(Plan(outputs=2))
    key = await live_key(api, credits=100)
    body = {
        "model": "replicate/black-forest-labs/flux-schnell",
        "input": {
            "prompt": "a lighthouse",
            "aspect_ratio": "3:2",
            "num_outputs": 2,
            "options": {"go_fast": True, "width": 96, "height": 64, "prompt": "ignored"},
        },
    }
    response = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["type"] == "image" and job["credits_reserved"] == 20  # 10 per output
    done = await api.wait(key, job["id"])
    assert done["status"] == "completed", done
    [prediction] = fake.creates
    assert prediction.model == "black-forest-labs/flux-schnell"
    assert prediction.input == {
        "prompt": "a lighthouse",  # a common field wins over an option of the same name
        "aspect_ratio": "3:2",
        "num_outputs": 2,
        "go_fast": True,
        "width": 96,
        "height": 64,
    }
    # What the model renders (FLUX takes no pixel size: its 3:2 frame), not what was asked.
    assert [(o["width"], o["height"]) for o in done["outputs"]] == [(1216, 832), (1216, 832)]
    described = await api.client.get(
        "/api/v1/models/replicate/black-forest-labs/flux-schnell", headers=auth(key)
    )
    assert described.status_code == 200
    assert "options" in described.json()["input_schema"]["properties"]


async def test_an_output_keeps_its_real_type_when_the_model_ignored_output_format(
    api: Api, fake: FakeReplicate
) -> None:
    fake.plans.append(Plan(kind="image"))  # a PNG, whatever format was asked for
    key = await live_key(api, credits=100)
    body = {"model": "prunaai/z-image-turbo", "prompt": "a kite", "output_format": "webp"}
    done = await api.wait(key, (await create(api, key, "/api/v1/generate/image", body))["id"])
    assert done["status"] == "completed", done
    assert fake.creates[0].input["output_format"] == "webp"
    output = done["outputs"][0]
    assert output["content_type"] == "image/png"  # what the provider really sent
    content = (await api.client.get(output["url"])).content
    assert Image.open(io.BytesIO(content)).format == "PNG"


async def test_a_generic_model_id_must_name_an_owner_and_a_model(api: Api) -> None:
    key = await live_key(api)
    for model in ("replicate/only-owner", "replicate/a/b/c", "replicate/-bad/name"):
        response = await api.client.post(
            "/api/v1/generate/image", json={"model": model, "prompt": "x"}, headers=auth(key)
        )
        assert response.status_code == 400, (model, response.text)
