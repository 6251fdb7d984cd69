"""Seed 001's product photoshoot, instant ad and voice agent routes (docs/compat.md), request
for request with the seed document's parameter names: the photos and creatives decoded, their
counts and sizes per platform, refunds on failure, and the URLs fetched only by the SSRF-safe
fetcher."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw

from tests.compat.test_seed001 import assert_seed_error, poll
from tests.conftest import Api, auth, make_settings, open_api
from tests.fetch_servers import LoopbackServer, ok

# Each platform's image creative (the product-ad templates' canvases).
PLATFORM_SIZES = {
    "tiktok": (1080, 1920),
    "youtube": (1920, 1080),
    "instagram": (1080, 1350),
    "facebook": (1080, 1080),
    "linkedin": (1200, 628),
}


def product_png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A disc on a white studio backdrop: what the product cut-out finds."""
    image = Image.new("RGB", (160, 120), "white")
    ImageDraw.Draw(image).ellipse((50, 20, 110, 100), fill=color)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def product_page(images: list[str]) -> bytes:
    """A shop's product page: Open Graph tags, schema.org Product data with a price, a product
    <img>; ``images`` are the paths it names (relative, as shops write them)."""
    ld = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "Aurora Trail Shoe",
        "image": images[1:2],
        "offers": {"@type": "Offer", "price": "89.00", "priceCurrency": "USD"},
    }
    og = f'<meta property="og:image" content="{images[0]}">' if images else ""
    return f"""<!doctype html><html><head>
<title>Aurora Trail Shoe | Acme Outdoor</title>
<meta property="og:title" content="Aurora Trail Shoe | Acme Outdoor">
<meta property="og:description" content="A featherweight trail runner with grip for mud and
rock. Free returns for 60 days.">
{og}
<script type="application/ld+json">{json.dumps(ld)}</script>
<style>.x {{ color: red }}</style>
</head><body><h1>Aurora Trail Shoe</h1>
{"".join(f'<img class="product-gallery" src="{src}">' for src in images[2:])}
<p>Only $89.00, free shipping.</p></body></html>""".encode()


def shop_routes() -> dict[str, Any]:
    return {
        "/aurora": ok(product_page(["/img/a.png", "/img/b.png"]), "text/html; charset=utf-8"),
        "/no-images": ok(product_page([]), "text/html"),
        "/img/a.png": ok(product_png(), "image/png"),
        "/img/b.png": ok(product_png((30, 60, 200)), "image/png"),
    }


async def _outputs(api: Api, key: str, job_id: str) -> list[dict[str, Any]]:
    native = await api.client.get(f"/api/v1/generations/{job_id}", headers=auth(key))
    outputs: list[dict[str, Any]] = native.json()["outputs"]
    return outputs


async def _decoded_images(api: Api, job: dict[str, Any]) -> list[Image.Image]:
    images = []
    for url in job["outputUrls"]:
        answer = await api.client.get(url)
        images.append(Image.open(io.BytesIO(answer.content)))
    return images


async def test_photoshoot_with_the_built_in_model_and_its_refusals(tmp_path: Path) -> None:
    with LoopbackServer({"/shoe.png": ok(product_png(), "image/png")}) as server:
        settings = make_settings(
            tmp_path / "data", disabled_engines=[], net_allow_hosts=f"127.0.0.1:{server.port}"
        )
        async with open_api(settings) as api:
            account = await api.account(credits=100)
            key = await api.key(account)
            body = {
                "productImage": server.url("/shoe.png"),
                "background": "studio-white",
                "angle": "front",
                "lighting": "studio",
                "count": 1,
            }
            route = "/api/generate/photoshoot"
            answer = await api.client.post(route, json=body, headers=auth(key))
            assert answer.status_code == 200, answer.text
            data = answer.json()["data"]
            assert set(data) == {"jobId", "status", "message"} and data["status"] == "queued"
            job = await poll(api, key, data["jobId"])
            assert job["status"] == "completed", job["error"]
            assert job["outputType"] == "image/png" and len(job["outputUrls"]) == 1
            [photo] = await _decoded_images(api, job)
            assert photo.format == "PNG" and photo.size == (800, 800)
            assert photo.getpixel((5, 5)) == (255, 255, 255)  # the studio-white backdrop
            assert job["creditsCharged"] == 2  # the catalog's price, not the seed's 30
            native = await api.client.get(f"/api/v1/generations/{job['jobId']}", headers=auth(key))
            assert native.json()["model"] == "builtin/product-enhance"

            lifestyle = {**body, "background": "lifestyle", "lighting": "soft", "angle": "hero"}
            answer = await api.client.post(route, json=lifestyle, headers=auth(key))
            job = await poll(api, key, answer.json()["data"]["jobId"])
            [photo] = await _decoded_images(api, job)
            assert photo.size == (800, 800) and photo.getpixel((5, 5)) != (255, 255, 255)

            for changed, words in (
                ({"background": "outdoor"}, "image-edit"),
                ({"angle": "top-down", "lighting": "golden-hour"}, "'top-down'"),
                ({"count": 3}, "count 3"),
                ({"background": "custom"}, "customBackground"),
                ({"customBackground": "a beach"}, "customBackground"),
                ({"count": 5}, "count"),
            ):
                refused = await api.client.post(route, json={**body, **changed}, headers=auth(key))
                assert words in assert_seed_error(refused, 400, "BAD_REQUEST")["error"]


async def test_photoshoot_with_an_image_edit_model_writes_its_instruction(
    tmp_path: Path,
) -> None:
    with LoopbackServer({"/shoe.png": ok(product_png(), "image/png")}) as server:
        settings = make_settings(
            tmp_path / "data", disabled_engines=[], net_allow_hosts=f"127.0.0.1:{server.port}"
        )
        async with open_api(settings) as api:
            key = await api.key(await api.account(), sandbox=True)
            body = {
                "productImage": server.url("/shoe.png"),
                "background": "custom",
                "customBackground": "a mossy rock by a mountain stream",
                "angle": "45-degree",
                "lighting": "golden-hour",
                "count": 1,
                "model": "flux-kontext",
            }
            route = "/api/generate/photoshoot"
            answer = await api.client.post(route, json=body, headers=auth(key))
            assert answer.status_code == 200, answer.text
            job = await poll(api, key, answer.json()["data"]["jobId"])
            assert job["status"] == "completed" and job["outputType"] == "image/png"
            native = await api.client.get(f"/api/v1/generations/{job['jobId']}", headers=auth(key))
            prompt = native.json()["input"]["prompt"]
            assert "mossy rock" in prompt and "45-degree" in prompt and "golden-hour" in prompt
            # FLUX Kontext makes one image: count 2 is its validation's 400, not a silent one.
            refused = await api.client.post(route, json={**body, "count": 2}, headers=auth(key))
            assert_seed_error(refused, 400, "BAD_REQUEST")


async def test_instant_ad_images_per_platform_from_a_fetched_page(tmp_path: Path) -> None:
    with LoopbackServer(shop_routes()) as shop:
        settings = make_settings(
            tmp_path / "data", disabled_engines=[], net_allow_hosts=f"127.0.0.1:{shop.port}"
        )
        async with open_api(settings) as api:
            account = await api.account(credits=100)
            key = await api.key(account)
            route = "/api/generate/instant-ad"
            body = {
                "websiteUrl": shop.url("/aurora"),
                "platform": "instagram",
                "count": 2,
                "style": "bold",
            }
            answer = await api.client.post(route, json=body, headers=auth(key))
            assert answer.status_code == 200, answer.text
            job = await poll(api, key, answer.json()["data"]["jobId"])
            assert job["status"] == "completed" and job["type"] == "instant-ad", job["error"]
            assert job["creditsCharged"] == 4  # 2 per image creative
            first, second = await _decoded_images(api, job)
            assert first.size == second.size == PLATFORM_SIZES["instagram"]
            assert first.tobytes() != second.tobytes()  # each its own product image and call
            outputs = await _outputs(api, key, job["jobId"])
            fields = outputs  # an output's own fields are beside its url
            assert [f["variation"] for f in fields] == [1, 2]
            assert fields[0]["headline"] == "Aurora Trail Shoe"  # the shop's name left out
            assert fields[0]["price"] == "$89.00" and fields[0]["format"] == "image"
            assert fields[0]["tagline"].startswith("A featherweight trail runner")
            assert job["metadata"]["variationCount"] == 2
            assert job["metadata"]["platform"] == "instagram"
            # The page and its images were fetched once each, by the job's fetcher.
            paths = [seen.path for seen in shop.seen]
            assert paths.count("/aurora") == 1 and paths.count("/img/b.png") == 1

            for platform, size in PLATFORM_SIZES.items():
                if platform == "instagram":
                    continue
                one = {**body, "platform": platform, "count": 1, "style": "minimal"}
                answer = await api.client.post(route, json=one, headers=auth(key))
                job = await poll(api, key, answer.json()["data"]["jobId"])
                assert job["status"] == "completed", job["error"]
                [creative] = await _decoded_images(api, job)
                assert creative.size == size, platform


async def test_instant_ad_video_and_both_in_the_sandbox_have_the_live_shapes(
    tmp_path: Path,
) -> None:
    """The live video path runs in tests/engines/test_sandbox_parity.py (a real commercial);
    here a sandbox key's job, whose outputs have its shapes, decoded."""
    with LoopbackServer(shop_routes()) as shop:
        settings = make_settings(
            tmp_path / "data", disabled_engines=[], net_allow_hosts=f"127.0.0.1:{shop.port}"
        )
        async with open_api(settings) as api:
            key = await api.key(await api.account(), sandbox=True)
            body = {
                "websiteUrl": shop.url("/aurora"),
                "platform": "tiktok",
                "count": 1,
                "style": "luxury",
                "outputFormat": "both",
            }
            answer = await api.client.post("/api/generate/instant-ad", json=body, headers=auth(key))
            assert answer.status_code == 200, answer.text
            job = await poll(api, key, answer.json()["data"]["jobId"])
            assert job["status"] == "completed" and len(job["outputUrls"]) == 2, job["error"]
            image = Image.open(io.BytesIO((await api.client.get(job["outputUrls"][0])).content))
            assert image.size == (1080, 1920)
            video = (await api.client.get(job["outputUrls"][1])).content
            with av.open(io.BytesIO(video)) as container:
                stream = container.streams.video[0]
                assert (stream.width, stream.height) == (720, 1280)  # the commercial's 9:16
                assert container.streams.audio
                assert float(container.duration or 0) / av.time_base >= 14.5


async def test_instant_ad_refusals_scopes_and_refunds(tmp_path: Path) -> None:
    with LoopbackServer(shop_routes()) as shop:
        settings = make_settings(
            tmp_path / "data", disabled_engines=[], net_allow_hosts=f"127.0.0.1:{shop.port}"
        )
        async with open_api(settings) as api:
            account = await api.account(credits=100)
            key = await api.key(account)
            route = "/api/generate/instant-ad"
            body = {
                "websiteUrl": shop.url("/aurora"),
                "platform": "linkedin",
                "count": 1,
                "style": "modern",
            }
            brand = {**body, "brandProfileId": "bp_123"}
            refused = await api.client.post(route, json=brand, headers=auth(key))
            assert "brandProfileId" in assert_seed_error(refused, 400, "BAD_REQUEST")["error"]
            for changed in ({"count": 5}, {"platform": "tv"}, {"style": "grunge"}):
                refused = await api.client.post(route, json={**body, **changed}, headers=auth(key))
                assert_seed_error(refused, 400, "BAD_REQUEST")
            images_only = await api.key(account, scopes=["read", "generate:image"])
            video = {**body, "outputFormat": "video"}
            refused = await api.client.post(route, json=video, headers=auth(images_only))
            assert_seed_error(refused, 403, "FORBIDDEN")

            # A failing step refunds: a page without a product image cannot make a video.
            no_images = {**video, "websiteUrl": shop.url("/no-images")}
            answer = await api.client.post(route, json=no_images, headers=auth(key))
            assert answer.status_code == 200, answer.text
            job = await poll(api, key, answer.json()["data"]["jobId"])
            assert job["status"] == "failed" and "product image" in job["error"]
            assert (job["creditsCharged"], job["creditsRefunded"]) == (0, 20)

            # Any other address is refused like every user URL: loopback (not this test's
            # allowed port), private, link-local. The job fails and is refunded.
            for url in (
                "https://127.0.0.1:9/page",
                "https://10.0.0.8/product",
                "https://169.254.169.254/latest/meta-data/",
            ):
                private = {**body, "websiteUrl": url}
                answer = await api.client.post(route, json=private, headers=auth(key))
                job = await poll(api, key, answer.json()["data"]["jobId"])
                assert job["status"] == "failed" and "may not be fetched" in job["error"], url
                assert job["creditsRefunded"] == 2
            usage = (await api.client.get("/api/usage", headers=auth(key))).json()["data"]
            assert usage["credits"] == 100


async def test_voice_agent_routes_answer_not_implemented(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path / "data")) as api:
        key = await api.key(await api.account())
        call = {"agentId": "agent_1", "phoneNumber": "+14155550123"}
        agent = {
            "name": "Support",
            "systemPrompt": "You help customers.",
            "greeting": "Hello!",
            "ttsModel": "kokoro",
            "llmModel": "gpt-4o-mini",
        }
        for method, path, body in (
            ("POST", "/api/voice-agent/calls/outbound", call),
            ("GET", "/api/voice-agent/calls", None),
            ("POST", "/api/voice-agent/agents", agent),
        ):
            answer = await api.client.request(method, path, json=body, headers=auth(key))
            error = assert_seed_error(answer, 501, "NOT_IMPLEMENTED")["error"]
            assert "telephony" in error
            anonymous = await api.client.request(method, path, json=body)
            assert_seed_error(anonymous, 401, "UNAUTHORIZED")
