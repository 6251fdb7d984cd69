"""The API on S3 storage (a real SeaweedFS server), over real HTTP: uploads and outputs live in
the bucket, signed /files/ URLs redirect to presigned bucket URLs that honour Range, and
deleting a generation or a file removes its objects."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from PIL import Image

from mediastudio import AsyncClient
from tests.api.test_uploads import png_bytes
from tests.conftest import auth, make_settings
from tests.live_server import LiveApi, serve_live
from tests.s3_server import S3Server


@dataclass
class S3Api:
    live: LiveApi
    server: S3Server
    prefix: str

    def objects(self, under: str = "") -> list[str]:
        """The deployment's object names under ``under`` (relative to its storage prefix)."""
        names = self.server.keys(f"{self.prefix}/{under}")
        return [name.removeprefix(f"{self.prefix}/") for name in names]


@pytest.fixture
async def s3api(s3_server: S3Server, tmp_path: Path) -> AsyncIterator[S3Api]:
    prefix = f"api-{uuid.uuid4().hex}"
    settings = make_settings(tmp_path / "data", disabled_engines=[], **s3_server.settings(prefix))
    async with serve_live(settings) as live:
        yield S3Api(live, s3_server, prefix)


async def upload(api: LiveApi, key: str, content: bytes) -> dict[str, Any]:
    files = {"file": ("photo.png", content, "image/png")}
    response = await api.client.post("/api/v1/files", files=files, headers=auth(key))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def run(api: LiveApi, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    created = await api.client.post(path, json=body, headers=auth(key))
    assert created.status_code == 202, created.text
    return await api.wait(key, created.json()["id"], timeout=60)


async def test_an_upload_runs_a_builtin_job_whose_output_downloads_with_range(
    s3api: S3Api, tmp_path: Path
) -> None:
    api = s3api.live
    account = await api.account(credits=50)
    key = await api.key(account)
    content = png_bytes((40, 30))
    stored = await upload(api, key, content)
    assert s3api.objects(f"{account}/uploads/") == [f"{account}/uploads/{stored['id']}.png"]
    assert not list((api.platform.settings.data_dir / "files").glob("**/*.png"))  # not on disk

    body = {"image_url": stored["id"], "scale": 2, "output_format": "png"}
    job = await run(api, key, "/api/v1/images/upscale", body)
    assert job["status"] == "completed", job
    url = job["output_url"]
    assert urlparse(url).path.startswith("/files/")  # the platform's signed URL, as on disk
    assert s3api.objects(f"{account}/{job['id']}/") == [f"{account}/{job['id']}/0.png"]

    redirect = await api.client.get(url)
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    assert location.startswith(s3api.server.endpoint_url)
    assert redirect.headers["cache-control"] == "private, no-store"
    assert int(parse_qs(urlparse(location).query)["X-Amz-Expires"][0]) == 300  # download_ttl_s
    output_key = urlparse(url).path.removeprefix("/files/")
    soon = api.platform.storage.url(output_key, base_url=api.base_url, ttl_s=30)
    shorter = (await api.client.get(soon)).headers["location"]
    assert int(parse_qs(urlparse(shorter).query)["X-Amz-Expires"][0]) <= 30  # never outlives it

    async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as client:
        whole = await client.get(url)
        part = await client.get(url, headers={"Range": "bytes=0-7"})
        head = await client.head(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(whole.content))
    assert image.format == "PNG" and image.size == (80, 60)
    assert part.status_code == 206 and part.content == whole.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert part.headers["content-range"] == f"bytes 0-7/{len(whole.content)}"
    assert head.status_code == 200 and head.headers["content-length"] == str(len(whole.content))

    # MediaStudio's own client follows the redirect to the bucket.
    async with AsyncClient(api_key=key, base_url=api.base_url) as sdk:
        generation = await sdk.generations.get(job["id"])
        saved = await generation.outputs[0].download(tmp_path / "saved.png")
    assert saved.read_bytes() == whole.content

    # The output URL chains into another job: the runner copies it from the bucket.
    again = await run(api, key, "/api/v1/images/upscale", {"image_url": url, "scale": 2})
    assert again["status"] == "completed", again
    async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as client:
        bigger = Image.open(io.BytesIO((await client.get(again["output_url"])).content))
    assert bigger.size == (160, 120)


async def test_deleting_a_generation_or_a_file_removes_its_objects(s3api: S3Api) -> None:
    api = s3api.live
    account = await api.account(credits=50)
    key = await api.key(account)
    stored = await upload(api, key, png_bytes((16, 16)))
    kept = await run(api, key, "/api/v1/images/upscale", {"image_url": stored["id"], "scale": 2})
    gone = await run(api, key, "/api/v1/images/upscale", {"image_url": stored["id"], "scale": 2})
    assert len(s3api.objects(f"{account}/")) == 3

    deleted = await api.client.delete(f"/api/v1/generations/{gone['id']}", headers=auth(key))
    assert deleted.status_code == 204
    assert s3api.objects(f"{account}/{gone['id']}/") == []
    assert (await api.client.get(gone["output_url"])).status_code == 404
    assert s3api.objects(f"{account}/{kept['id']}/") == [f"{account}/{kept['id']}/0.png"]

    removed = await api.client.delete(f"/api/v1/files/{stored['id']}", headers=auth(key))
    assert removed.status_code == 204
    assert s3api.objects(f"{account}/uploads/") == []
    missing = await api.client.get(stored["url"])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
