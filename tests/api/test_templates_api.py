"""Templates over HTTP: the public catalog with its filters, and each built-in template
rendered by a live key through the job API, its output decoded and looked at."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from tests.conftest import Api, auth, make_settings, open_api
from tests.engines.image_scenes import data_uri

PHOTO_RGB = (20, 180, 60)
OTHER_RGB = (200, 30, 160)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with open_api(make_settings(tmp_path / "data", disabled_engines=[])) as opened:
        yield opened


def photo(width: int = 400, height: int = 300) -> str:
    return data_uri(Image.new("RGB", (width, height), PHOTO_RGB))


async def render(
    api: Api, template_id: str, body: dict[str, Any], credits: int = 10
) -> tuple[dict[str, Any], int, bytes]:
    key = await api.key(await api.account(credits=credits))
    created = await api.client.post(
        f"/api/v1/templates/{template_id}/render", json=body, headers=auth(key)
    )
    assert created.status_code == 202, created.text
    assert created.headers["Location"] == f"/api/v1/generations/{created.json()['id']}"
    job = await api.wait(key, created.json()["id"], timeout=120)
    assert job["status"] == "completed", job
    balance = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    content = (await api.client.get(job["output_url"])).content
    return job, balance["credit_balance"], content


def box(pixels: NDArray[np.uint8], x: int, y: int, w: int, h: int) -> NDArray[np.uint8]:
    return pixels[y : y + h, x : x + w]


def share_near(region: NDArray[np.uint8], rgb: tuple[int, int, int], tolerance: int = 12) -> float:
    close = (np.abs(region.astype(int) - np.array(rgb)) <= tolerance).all(axis=-1)
    return float(close.mean())


# The instant ad's templates (builtin/instant-ad), one per platform's feed size.
PRODUCT_ADS = [
    "product-ad-1-91x1",
    "product-ad-16x9",
    "product-ad-1x1",
    "product-ad-4x5",
    "product-ad-9x16",
]


async def test_the_catalog_is_public_and_filters(api: Api) -> None:
    listed = (await api.client.get("/api/v1/templates")).json()  # no key at all
    ids = [t["id"] for t in listed["data"]]
    assert ids == [*PRODUCT_ADS, "product-announcement", "quote-card", "sale-banner", "title-card"]
    assert listed["total"] == 9 and listed["has_more"] is False
    card = next(t for t in listed["data"] if t["id"] == "title-card")
    assert (card["type"], card["width"], card["height"]) == ("video", 1080, 1920)
    assert (card["duration_s"], card["fps"], card["model"]) == (5.0, 30, "builtin/template-video")
    assert {"name": "title", "required": True}.items() <= card["texts"][0].items()
    for query, expected in (
        ("type=video", ["title-card"]),
        ("type=image", [*PRODUCT_ADS, "product-announcement", "quote-card", "sale-banner"]),
        ("category=banners", ["sale-banner"]),
        ("category=ads", PRODUCT_ADS),
        ("tag=quote", ["quote-card"]),
        ("type=video&tag=quote", []),
    ):
        answer = (await api.client.get(f"/api/v1/templates?{query}")).json()
        assert [t["id"] for t in answer["data"]] == expected, query
    first = (await api.client.get("/api/v1/templates?limit=8")).json()
    assert first["has_more"] and first["next_cursor"] == "sale-banner"
    rest = await api.client.get(f"/api/v1/templates?limit=8&starting_after={first['next_cursor']}")
    assert [t["id"] for t in rest.json()["data"]] == ["title-card"]
    bad = await api.client.get("/api/v1/templates?type=audio")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    one = await api.client.get("/api/v1/templates/quote-card")
    assert one.status_code == 200 and one.json()["colors"]["accent"] == "#e76f51"
    missing = await api.client.get("/api/v1/templates/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def two_halves(width: int, height: int) -> str:
    """Left half PHOTO_RGB, right half OTHER_RGB: where each lands shows the crop."""
    image = Image.new("RGB", (width, height), PHOTO_RGB)
    image.paste(OTHER_RGB, (width // 2, 0, width, height))
    return data_uri(image)


async def test_product_announcement_png(api: Api) -> None:
    body = {
        "texts": {"headline": "Meet the Aero 2", "cta": "Buy"},
        "images": {"product": two_halves(960, 560)},
        "colors": {"accent": "#ff0000"},
    }
    job, balance, content = await render(api, "product-announcement", body)
    assert (job["type"], job["model"], job["credits_charged"], balance) == (
        "template",
        "builtin/template",
        1,
        9,
    )
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG" and image.size == (1080, 1080)
    pixels = np.asarray(image.convert("RGB"))
    # The image slot (60, 60, 960x560) shows the photo; the headline's white is in its box.
    assert share_near(box(pixels, 100, 100, 420, 480), PHOTO_RGB) > 0.99
    assert share_near(box(pixels, 560, 100, 420, 480), OTHER_RGB) > 0.99
    assert share_near(box(pixels, 60, 745, 960, 150), (255, 255, 255)) > 0.03
    assert share_near(box(pixels, 0, 0, 1080, 740), (255, 255, 255)) == 0.0
    # The accent variable overridden: the call-to-action pill is red.
    assert share_near(box(pixels, 740, 940, 40, 20), (255, 0, 0)) > 0.9


async def test_quote_card_webp_shrinks_long_text_into_its_box(api: Api) -> None:
    quote = "Simplicity is the ultimate sophistication, and it takes work. " * 5
    body = {"texts": {"quote": quote.strip(), "author": "Someone"}, "output_format": "webp"}
    body["colors"] = {"text": "#0000ff"}
    _, _, content = await render(api, "quote-card", body)
    image = Image.open(io.BytesIO(content))
    assert image.format == "WEBP" and image.size == (1080, 1080)
    pixels = np.asarray(image.convert("RGB"))
    assert share_near(box(pixels, 140, 290, 800, 480), (0, 0, 255), 40) > 0.03
    # Nothing of the quote outside its box: above it and between it and the author line.
    assert share_near(box(pixels, 0, 0, 1080, 285), (0, 0, 255), 40) == 0.0
    assert share_near(box(pixels, 0, 775, 1080, 25), (0, 0, 255), 40) == 0.0


async def test_sale_banner_jpg(api: Api) -> None:
    body = {
        "texts": {"discount": "50% OFF", "headline": "Summer sale"},
        "images": {"photo": photo(300, 600)},
        "output_format": "jpg",
    }
    _, _, content = await render(api, "sale-banner", body)
    image = Image.open(io.BytesIO(content))
    assert image.format == "JPEG" and image.size == (1920, 1080)
    pixels = np.asarray(image.convert("RGB"))
    assert share_near(box(pixels, 1000, 40, 880, 1000), PHOTO_RGB, 16) > 0.98
    assert share_near(box(pixels, 100, 430, 820, 210), (239, 68, 68), 30) > 0.03


async def test_title_card_mp4(api: Api) -> None:
    body = {"texts": {"title": "Launch day", "subtitle": "Join us live"}}
    job, balance, content = await render(api, "title-card", body)
    assert (job["model"], job["credits_charged"], balance) == ("builtin/template-video", 2, 8)
    with av.open(io.BytesIO(content)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        assert not container.streams.audio
    assert len(frames) == 150 and frames[0].shape == (1920, 1080, 3)
    assert job["outputs"][0]["duration_s"] == pytest.approx(5.0, abs=0.05)
    title_box = (140, 840, 800, 420)
    # The title is not there at the start and stands in its box at the end.
    assert share_near(box(frames[0], *title_box), (255, 255, 255), 30) == 0.0
    assert share_near(box(frames[-1], *title_box), (255, 255, 255), 30) > 0.03


@pytest.mark.parametrize(
    ("template_id", "body", "field"),
    [
        ("quote-card", {"texts": {"quote": "x", "subtitle": "y"}}, "texts"),
        ("quote-card", {"texts": {"author": "only"}}, "texts"),
        ("quote-card", {}, "texts"),
        ("quote-card", {"texts": {"quote": "x"}, "images": {"logo": "file_x"}}, "images"),
        ("quote-card", {"texts": {"quote": "x"}, "colors": {"pink": "#ff00ff"}}, "colors"),
        ("quote-card", {"texts": {"quote": "x"}, "colors": {"accent": "red"}}, "colors.accent"),
        ("quote-card", {"texts": {"quote": "x"}, "output_format": "mp4"}, "output_format"),
        ("title-card", {"texts": {"title": "x"}, "output_format": "png"}, "output_format"),
        ("quote-card", {"texts": {"quote": "x" * 401}}, "texts"),
    ],
)
async def test_bad_data_is_refused_before_credits_move(
    api: Api, template_id: str, body: dict[str, Any], field: str
) -> None:
    key = await api.key(await api.account(credits=10))
    answer = await api.client.post(
        f"/api/v1/templates/{template_id}/render", json=body, headers=auth(key)
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and error["request_id"]
    assert [f["field"] for f in error["details"]["fields"]] == [field]
    account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    assert account["credit_balance"] == 10
    listed = (await api.client.get("/api/v1/generations", headers=auth(key))).json()
    assert listed["data"] == []


async def test_unknown_template_and_scope(api: Api) -> None:
    account = await api.account(credits=10)
    key = await api.key(account)
    answer = await api.client.post("/api/v1/templates/nope/render", json={}, headers=auth(key))
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    image_only = await api.key(account, scopes=["generate:image", "read"])
    body = {"texts": {"title": "x"}}
    video = await api.client.post(
        "/api/v1/templates/title-card/render", json=body, headers=auth(image_only)
    )
    assert video.status_code == 403 and video.json()["error"]["code"] == "insufficient_scope"


async def test_the_generic_route_renders_a_template_too(api: Api) -> None:
    key = await api.key(await api.account(credits=10))
    body = {
        "model": "builtin/template",
        "input": {"template_id": "quote-card", "texts": {"quote": "Hi"}},
    }
    created = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
    assert created.status_code == 202, created.text
    wrong = {**body, "model": "builtin/template-video"}
    refused = await api.client.post("/api/v1/generations", json=wrong, headers=auth(key))
    assert refused.status_code == 400
    assert "builtin/template" in refused.json()["error"]["details"]["fields"][0]["message"]


async def test_a_sandbox_key_gets_the_live_shape(api: Api) -> None:
    key = await api.key(await api.account(credits=10), sandbox=True)
    created = await api.client.post(
        "/api/v1/templates/title-card/render",
        json={"texts": {"title": "Test"}},
        headers=auth(key),
    )
    assert created.status_code == 202, created.text
    job = await api.wait(key, created.json()["id"], timeout=60)
    assert job["status"] == "completed" and job["sandbox"] is True
    output = job["outputs"][0]
    assert (output["content_type"], output["width"], output["height"]) == ("video/mp4", 1080, 1920)
    assert output["duration_s"] == pytest.approx(5.0, abs=0.05)


async def test_each_template_has_a_public_png_preview_of_its_size_rendered_once(
    api: Api, tmp_path: Path
) -> None:
    listed = (await api.client.get("/api/v1/templates?limit=100")).json()["data"]
    assert {t["type"] for t in listed} == {"image", "video"}
    for template in listed:
        one = (await api.client.get(f"/api/v1/templates/{template['id']}")).json()
        assert one["preview_url"] == template["preview_url"]
        response = await api.client.get(template["preview_url"])  # no key at all
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.format == "PNG"
            assert image.size == (template["width"], template["height"])
            image.load()
    # Rendered once each, kept on disk keyed by the template's content.
    cached = sorted((tmp_path / "data" / "template-previews").iterdir())
    assert len(cached) == len(listed) and all(p.suffix == ".png" for p in cached)
    before = [p.stat().st_mtime_ns for p in cached]
    again = await api.client.get(listed[0]["preview_url"])
    assert again.status_code == 200
    assert [p.stat().st_mtime_ns for p in cached] == before
    missing = await api.client.get("/api/v1/templates/no-such-template/preview.png")
    assert missing.status_code == 404
