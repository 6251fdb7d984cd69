"""Signed output URLs: streamed, ranged, and refused when tampered with or expired; on local
disk and on S3 storage streamed through the API (``storage.downloads=proxy``, a real SeaweedFS;
the redirect to the bucket is tests/api/test_s3_storage_api.py)."""

from __future__ import annotations

import base64
import io
import time
import uuid
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from mediastudio.settings import Settings
from tests.api.test_uploads import png_bytes
from tests.conftest import Api, auth, make_settings, open_api
from tests.s3_server import S3Server


@pytest.fixture(params=["local", "s3"])
async def api(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[Api]:
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        prefix = f"files-{uuid.uuid4().hex}"
        overrides = server.settings(prefix, downloads="proxy")
        settings = make_settings(tmp_path / "s3", database_url=settings.database_url, **overrides)
    async with open_api(settings) as opened:
        yield opened


async def completed_output_url(api: Api) -> str:
    key = await api.key(await api.account())
    body = {"prompt": "a lighthouse", "model": "fake/image", "output_format": "png"}
    job = (await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))).json()
    done = await api.wait(key, job["id"])
    return str(done["output_url"])


async def test_signed_url_serves_the_file_with_range_support(api: Api) -> None:
    url = await completed_output_url(api)
    whole = await api.client.get(url)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "image/png"
    assert whole.content[:8] == b"\x89PNG\r\n\x1a\n"
    part = await api.client.get(url, headers={"Range": "bytes=0-7"})
    assert part.status_code == 206
    assert part.content == whole.content[:8]
    assert part.headers["content-range"] == f"bytes 0-7/{len(whole.content)}"


async def test_a_malformed_range_is_ignored_and_one_past_the_end_is_416(api: Api) -> None:
    url = await completed_output_url(api)
    whole = await api.client.get(url)
    for malformed in ("bytes", "lines=0-7", "bytes=abc", "bytes=7-3"):
        served = await api.client.get(url, headers={"Range": malformed})
        assert served.status_code == 200, malformed
        assert served.content == whole.content
    size = len(whole.content)
    past = await api.client.get(url, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{size}"
    assert past.json()["error"]["code"] == "range_not_satisfiable"


async def test_tampered_or_expired_signatures_are_403(api: Api) -> None:
    url = await completed_output_url(api)
    parsed = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    tampered = {**query, "signature": "0" * 64}
    response = await api.client.get(f"{parsed.path}?{urlencode(tampered)}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    other_file = parsed.path.replace("/0.png", "/1.png")
    assert (await api.client.get(f"{other_file}?{parsed.query}")).status_code == 403

    key = parsed.path.removeprefix("/files/")
    past = int(time.time()) - 1
    expired = {"expires": past, "signature": api.platform.signer.signature(key, past)}
    response = await api.client.get(f"{parsed.path}?{urlencode(expired)}")
    assert response.status_code == 403


async def test_path_traversal_is_refused(api: Api) -> None:
    key = "../secret_key"
    expires = int(time.time()) + 60
    signature = api.platform.signer.signature(key, expires)
    response = await api.client.get(
        "/files/..%2Fsecret_key", params={"expires": expires, "signature": signature}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_an_outputs_content_type_is_the_served_content_type(api: Api) -> None:
    key = await api.key(await api.account())
    body = {"text": "Hello there.", "model": "fake/speech", "output_format": "wav"}
    job = (await api.client.post("/api/v1/generate/speech", json=body, headers=auth(key))).json()
    [output] = (await api.wait(key, job["id"]))["outputs"]
    served = await api.client.get(output["url"])
    assert served.status_code == 200
    # One canonical type: not audio/x-wav or audio/vnd.wave from the machine's mime.types.
    assert output["content_type"] == served.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(served.content)) as decoded:
        assert decoded.getnframes() > 0
        assert abs(decoded.getnframes() / decoded.getframerate() - output["duration_s"]) < 0.05


async def test_an_engines_generic_type_is_recorded_as_the_served_one(api: Api) -> None:
    # fake/echo declares application/octet-stream for whatever it fetched (here a PNG).
    key = await api.key(await api.account())
    png = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    body = {"model": "fake/echo", "input": {"url": png}}
    job = (await api.client.post("/api/v1/generations", json=body, headers=auth(key))).json()
    [output] = (await api.wait(key, job["id"]))["outputs"]
    served = await api.client.get(output["url"])
    assert output["content_type"] == served.headers["content-type"] == "image/png"
