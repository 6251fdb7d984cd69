"""Uploads: sniffed, capped, owned by one account and mode, and usable as job inputs."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from tests.conftest import Api, auth, make_settings, open_api


def png_bytes(size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def upload(api: Api, key: str, content: bytes, name: str = "photo.txt") -> dict:
    response = await api.client.post(
        "/api/v1/files", files={"file": (name, content, "text/plain")}, headers=auth(key)
    )
    return {"status": response.status_code, **response.json()}


async def echo(api: Api, key: str, url: str) -> dict:
    body = {"model": "fake/echo", "input": {"url": url}}
    response = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
    if response.status_code != 202:
        return {"status": response.status_code, **response.json()}
    return await api.wait(key, response.json()["id"])


async def test_an_upload_is_sniffed_stored_listed_and_downloadable(tmp_path: Path) -> None:
    content = png_bytes()
    async with open_api(make_settings(tmp_path)) as api:
        key = await api.key(await api.account())
        created = await upload(api, key, content, name="../../etc/evil name?.txt")
        assert created["status"] == 201
        assert created["id"].startswith("file_")
        assert created["content_type"] == "image/png"  # from the bytes, not the name or header
        assert created["bytes"] == len(content)
        assert created["sha256"] == hashlib.sha256(content).hexdigest()
        assert created["filename"] == "evil name_.txt"
        fetched = await api.client.get(f"/api/v1/files/{created['id']}", headers=auth(key))
        assert fetched.json()["id"] == created["id"]
        listed = (await api.client.get("/api/v1/files", headers=auth(key))).json()
        assert [item["id"] for item in listed["data"]] == [created["id"]]
        download = await api.client.get(created["url"])
        assert download.status_code == 200 and download.content == content


async def test_unsupported_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path)) as api:
        key = await api.key(await api.account())
        html = await upload(api, key, b"<html><script>alert(1)</script></html>", "x.png")
        assert html["status"] == 400 and html["error"]["code"] == "invalid_request"
        empty = await upload(api, key, b"")
        assert empty["status"] == 400
        no_part = await api.client.post(
            "/api/v1/files", files={"other": ("a", b"x")}, headers=auth(key)
        )
        assert no_part.status_code == 400
        not_multipart = await api.client.post("/api/v1/files", content=b"x", headers=auth(key))
        assert not_multipart.status_code == 400
        listed = (await api.client.get("/api/v1/files", headers=auth(key))).json()
        assert listed["data"] == []


async def test_an_upload_over_the_cap_is_413_and_leaves_nothing(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path, upload_max_bytes=1000)) as api:
        key = await api.key(await api.account())
        too_big = await upload(api, key, png_bytes() + b"\0" * 5000)
        assert too_big["status"] == 413
        assert too_big["error"]["code"] == "file_too_large"
        assert too_big["error"]["details"]["max_bytes"] == 1000
        listed = (await api.client.get("/api/v1/files", headers=auth(key))).json()
        assert listed["data"] == []
        uploads = api.platform.settings.data_dir / "uploads"
        assert not uploads.exists() or list(uploads.iterdir()) == []


async def test_a_read_only_key_cannot_upload(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path)) as api:
        key = await api.key(await api.account(), scopes=["read"])
        refused = await upload(api, key, png_bytes())
        assert refused["status"] == 403 and refused["error"]["code"] == "insufficient_scope"


async def test_an_uploaded_file_id_is_a_job_input(tmp_path: Path) -> None:
    content = png_bytes((20, 10))
    async with open_api(make_settings(tmp_path)) as api:
        key = await api.key(await api.account(credits=10))
        file_id = (await upload(api, key, content))["id"]
        done = await echo(api, key, file_id)
        assert done["status"] == "completed", done
        assert (await api.client.get(done["output_url"])).content == content


async def test_an_earlier_output_url_chains_into_a_new_job(tmp_path: Path) -> None:
    content = png_bytes((12, 12))
    async with open_api(make_settings(tmp_path)) as api:
        key = await api.key(await api.account(credits=10))
        first = await echo(api, key, (await upload(api, key, content))["id"])
        second = await echo(api, key, first["output_url"])
        assert second["status"] == "completed", second
        assert (await api.client.get(second["output_url"])).content == content


async def test_no_account_or_mode_can_use_another_ones_files(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path)) as api:
        owner = await api.key(await api.account("owner@example.com", credits=10))
        other_account = await api.account("other@example.com", credits=10)
        other = await api.key(other_account)
        sandbox = await api.key(other_account, sandbox=True)
        file_id = (await upload(api, owner, png_bytes()))["id"]
        owner_output = (await echo(api, owner, file_id))["output_url"]

        refused = await echo(api, other, file_id)
        assert refused["status"] == 400 and refused["error"]["details"]["files"] == [file_id]
        assert (
            await api.client.get(f"/api/v1/files/{file_id}", headers=auth(other))
        ).status_code == 404
        stolen = await echo(api, other, owner_output)
        assert stolen["status"] == "failed" and stolen["error"]["code"] == "invalid_input"
        other_upload = (await upload(api, other, png_bytes()))["id"]
        cross_mode = await echo(api, sandbox, other_upload)
        assert cross_mode["status"] == 400
        balance = (await api.client.get("/api/v1/account", headers=auth(other))).json()
        assert balance["credit_balance"] == 10  # refused and failed jobs cost nothing


async def test_a_deleted_file_is_gone(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path)) as api:
        key = await api.key(await api.account(credits=10))
        created = await upload(api, key, png_bytes())
        deleted = await api.client.delete(f"/api/v1/files/{created['id']}", headers=auth(key))
        assert deleted.status_code == 204
        assert (
            await api.client.get(f"/api/v1/files/{created['id']}", headers=auth(key))
        ).status_code == 404
        assert (await api.client.get(created["url"])).status_code == 404
        assert (await echo(api, key, created["id"]))["status"] == 400
