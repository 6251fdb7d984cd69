"""Seed 004 ("AI Gen Studio") clients against MediaStudio, whose ``/api/v1`` serves its routes
as they are: the document's conventions request for request (the public presets, a create with
its ``Idempotency-Key`` and ``X-Request-Id`` headers answering its ``enhancement`` object, the
error envelope with ``request_id``, Bearer keys only), and a batch's signed webhook, received on
loopback, carrying ``items[]`` (``external_id`` → ``result_url``) as the status endpoint shows
them."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from mediastudio.settings import Settings
from mediastudio.webhooks.verify import verify_webhook
from tests.conftest import TERMINAL, auth, make_settings, open_api
from tests.engines.image_scenes import bytes_uri, data_uri, product_shot
from tests.fetch_servers import LoopbackServer, ok

URL = "/api/v1/product-image-enhancements"
# The document's examples: the fields each shows.
ENHANCEMENT_FIELDS = {"id", "status", "total_items", "credits_reserved", "sandbox"}
CREATE_FIELDS = {"enhancement", "remaining_paid_credits", "request_id"}
PRESET_EXAMPLE = {
    "id": "single_product_white_background",
    "name": "Single product white background",
}
ERROR_FIELDS = {"code", "message", "request_id"}


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(tmp_path / "data", disabled_engines=[], **overrides)


def batch(*urls: str) -> dict[str, Any]:
    items = [{"image_url": url, "external_id": f"SKU-{i}"} for i, url in enumerate(urls)]
    return {"preset": "single_product_white_background", "items": items}


async def test_the_documents_conventions_request_for_request(tmp_path: Path) -> None:
    async with open_api(settings(tmp_path)) as api:
        presets = await api.client.get(f"{URL}/presets")  # public: no key
        assert presets.status_code == 200
        assert set(presets.json()) == {"presets", "request_id"}
        first = presets.json()["presets"][0]
        assert {name: first[name] for name in PRESET_EXAMPLE} == PRESET_EXAMPLE
        assert first["description"].startswith("Best for one clear product")

        key = await api.key(await api.account(credits=90))
        headers = {**auth(key), "Idempotency-Key": "batch-1", "X-Request-Id": "req_client42"}
        shot = data_uri(product_shot(160, 120)[0])
        created = await api.client.post(URL, json=batch(shot), headers=headers)
        assert created.status_code == 202, created.text
        body = created.json()
        assert set(body) == CREATE_FIELDS and set(body["enhancement"]) >= ENHANCEMENT_FIELDS
        enhancement = body["enhancement"]
        assert enhancement["status"] == "queued" and enhancement["total_items"] == 1
        assert enhancement["sandbox"] is False
        assert body["remaining_paid_credits"] == 90 - enhancement["credits_reserved"]
        # The client's correlation id comes back, in the header and the body.
        assert created.headers["X-Request-Id"] == "req_client42"
        assert body["request_id"] == "req_client42"

        # The status endpoint answers the same object.
        status = await api.client.get(f"{URL}/{enhancement['id']}", headers=auth(key))
        assert status.status_code == 200
        assert set(status.json()["enhancement"]) >= ENHANCEMENT_FIELDS

        # Errors: the stable envelope with request_id.
        invalid = await api.client.post(
            URL, json={"preset": "nope", "items": []}, headers={**headers, "Idempotency-Key": "2"}
        )
        assert invalid.status_code == 400
        assert set(invalid.json()["error"]) >= ERROR_FIELDS

        # Only Bearer keys: a key in the query string or in x-api-key is refused.
        for refused in (
            api.client.get(f"{URL}/{enhancement['id']}?api_key={key}"),
            api.client.get(f"{URL}/{enhancement['id']}", headers={"x-api-key": key}),
            api.client.get(f"{URL}/{enhancement['id']}", cookies={"api_key": key}),
        ):
            answer = await refused
            assert answer.status_code == 401
            assert set(answer.json()["error"]) >= ERROR_FIELDS


async def _delivered(server: LoopbackServer) -> Any:
    for _ in range(600):
        if server.seen:
            return server.seen[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no delivery")


def _without_query(url: str | None) -> str | None:
    return None if url is None else urlsplit(url).path


async def test_a_batchs_webhook_maps_external_ids_to_result_urls(tmp_path: Path) -> None:
    with LoopbackServer({"/hook": ok(b"ok", "text/plain")}) as receiver:
        overrides = {"net_allow_hosts": "127.0.0.1", "webhook_poll_interval_s": 0.1}
        async with open_api(settings(tmp_path, **overrides)) as api:
            key = await api.key(await api.account(credits=50))
            registered = await api.client.post(
                "/api/v1/webhooks", json={"url": receiver.url("/hook")}, headers=auth(key)
            )
            assert registered.status_code == 201, registered.text
            secret = registered.json()["secret"]

            shot = data_uri(product_shot(160, 120)[0])
            corrupt = bytes_uri(b"\x89PNG\r\n\x1a\n corrupt")
            headers = {**auth(key), "Idempotency-Key": "hooked"}
            created = await api.client.post(URL, json=batch(shot, corrupt, shot), headers=headers)
            assert created.status_code == 202, created.text
            batch_id = created.json()["enhancement"]["id"]
            await api.wait(key, batch_id, until=lambda b: b["status"] in TERMINAL)

            seen = await _delivered(receiver)
            event = json.loads(seen.body)
            # Signed as every delivery is: the project's verifier accepts it.
            assert verify_webhook(seen.body, dict(seen.headers), secret) == event
            assert event["event"] == "enhancement.partially_completed"
            assert event["data"]["id"] == batch_id  # the generation, as on every event
            delivered = event["enhancement"]
            mapping = {i["external_id"]: i["result_url"] for i in delivered["items"]}
            assert list(mapping) == ["SKU-0", "SKU-1", "SKU-2"] and mapping["SKU-1"] is None

            status = await api.client.get(f"{URL}/{batch_id}", headers=auth(key))
            shown = status.json()["enhancement"]
            # The same object as the status endpoint, field for field (the result URLs are
            # signed again on each answer: the same file, another expiry).
            assert set(delivered) == set(shown)
            assert delivered["id"] == shown["id"] == batch_id
            assert delivered["status"] == shown["status"] == "partially_completed"
            for sent, read in zip(delivered["items"], shown["items"], strict=True):
                assert set(sent) == set(read)
                assert {**sent, "result_url": None} == {**read, "result_url": None}
                assert _without_query(sent["result_url"]) == _without_query(read["result_url"])
            for external_id in ("SKU-0", "SKU-2"):
                result = urlsplit(mapping[external_id])
                fetched = await api.client.get(f"{result.path}?{result.query}")
                assert fetched.status_code == 200
                image = Image.open(io.BytesIO(fetched.content))
                assert image.size[0] >= 800 and image.getpixel((5, 5)) == (255, 255, 255)
