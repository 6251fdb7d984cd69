"""Request bodies are capped: a huge JSON body is a 413 envelope, declared or chunked, and the
cap does not touch uploads (which have their own, larger one)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import auth, make_settings, open_api


async def test_a_declared_oversized_body_is_refused_before_it_is_read(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path, request_max_bytes=2000)) as api:
        key = await api.key(await api.account())
        body = {"prompt": "x" * 1500, "negative_prompt": "y" * 1500}
        response = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "file_too_large" and error["details"]["max_bytes"] == 2000
        assert error["request_id"] == response.headers["x-request-id"]
        listed = (await api.client.get("/api/v1/generations", headers=auth(key))).json()
        assert listed["data"] == []


async def test_a_chunked_oversized_body_is_refused_too(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path, request_max_bytes=2000)) as api:
        key = await api.key(await api.account())
        payload = json.dumps({"prompt": "x" * 1500, "negative_prompt": "y" * 1500}).encode()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(payload), 500):
                yield payload[start : start + 500]

        headers = {**auth(key), "Content-Type": "application/json"}
        response = await api.client.post(
            "/api/v1/generate/image", content=chunks(), headers=headers
        )
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "file_too_large"
        small = await api.client.post(
            "/api/v1/generate/image",
            json={"prompt": "fits", "model": "fake/image"},
            headers=auth(key),
        )
        assert small.status_code == 202


async def test_uploads_are_not_held_to_the_json_cap(tmp_path: Path) -> None:
    from tests.api.test_uploads import png_bytes

    async with open_api(make_settings(tmp_path, request_max_bytes=100)) as api:
        key = await api.key(await api.account())
        response = await api.client.post(
            "/api/v1/files", files={"file": ("p.png", png_bytes((64, 64)))}, headers=auth(key)
        )
        assert response.status_code == 201, response.text


async def test_an_upload_body_over_its_own_cap_is_refused_while_it_streams(
    tmp_path: Path,
) -> None:
    from tests.api.test_uploads import png_bytes

    async with open_api(make_settings(tmp_path, upload_max_bytes=1000)) as api:
        key = await api.key(await api.account())
        content = png_bytes() + b"\0" * 200_000

        async def chunks() -> AsyncIterator[bytes]:
            boundary = b"--x\r\n"
            yield (
                boundary + b'Content-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
            )
            for start in range(0, len(content), 50_000):
                yield content[start : start + 50_000]
            yield b"\r\n--x--\r\n"

        headers = {**auth(key), "Content-Type": "multipart/form-data; boundary=x"}
        response = await api.client.post("/api/v1/files", content=chunks(), headers=headers)
        assert response.status_code == 413, response.text
        assert response.json()["error"]["details"]["max_bytes"] == 1000 + 64 * 1024
        listed = (await api.client.get("/api/v1/files", headers=auth(key))).json()
        assert listed["data"] == []
