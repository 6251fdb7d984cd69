"""The Storage contract, the same tests on local disk and on a real S3 server (SeaweedFS)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from mediastudio.kit.storage import Storage, StorageUnreachable, UrlSigner, storage_from_url
from mediastudio.platform import s3_options
from tests.conftest import make_settings, open_api
from tests.s3_server import S3Server

SIGNER = UrlSigner(b"contract-secret")


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield storage_from_url(f"file://{tmp_path / 'files'}", SIGNER)
        return
    server: S3Server = request.getfixturevalue("s3_server")
    settings = make_settings(tmp_path / "data", **server.settings(f"contract-{uuid.uuid4().hex}"))
    yield storage_from_url(settings.resolved_storage_url, SIGNER, s3_options(settings))


def a_file(folder: Path, content: bytes, name: str = "source.bin") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


async def test_a_stored_file_comes_back_whole_and_its_source_is_taken(
    storage: Storage, tmp_path: Path
) -> None:
    content = os.urandom(70_000)
    source = a_file(tmp_path / "work", content)
    assert await storage.put_file("acct/gen_1/0.png", source) == len(content)
    assert not source.exists()  # taken (moved or uploaded then removed)
    assert await storage.size("acct/gen_1/0.png") == len(content)
    target = tmp_path / "copy.png"
    assert await storage.copy_to("acct/gen_1/0.png", target) == len(content)
    assert target.read_bytes() == content


async def test_a_byte_range_is_read_in_chunks(storage: Storage, tmp_path: Path) -> None:
    content = os.urandom(600_000)  # a few chunks
    await storage.put_file("acct/gen_1/0.mp4", a_file(tmp_path / "work", content))

    async def read(start: int, end: int) -> bytes:
        return b"".join([chunk async for chunk in storage.read("acct/gen_1/0.mp4", start, end)])

    assert await read(0, len(content)) == content
    assert await read(1000, 300_000) == content[1000:300_000]
    assert await read(len(content) - 1, len(content)) == content[-1:]
    assert await read(5, 5) == b""


async def test_missing_files_have_no_size_and_cannot_be_copied(
    storage: Storage, tmp_path: Path
) -> None:
    assert await storage.size("acct/gen_9/0.png") is None
    with pytest.raises(FileNotFoundError):
        await storage.copy_to("acct/gen_9/0.png", tmp_path / "nothing.png")


async def test_delete_and_delete_prefix_remove_only_what_they_name(
    storage: Storage, tmp_path: Path
) -> None:
    for key in ("a/gen_1/0.png", "a/gen_1/1.png", "a/gen_10/0.png", "a/uploads/file_1.png"):
        await storage.put_file(key, a_file(tmp_path / "work", key.encode()))
    await storage.delete_prefix("a/gen_1")
    assert await storage.size("a/gen_1/0.png") is None
    assert await storage.size("a/gen_1/1.png") is None
    assert await storage.size("a/gen_10/0.png") == len(b"a/gen_10/0.png")  # not a prefix match
    await storage.delete("a/uploads/file_1.png")
    assert await storage.size("a/uploads/file_1.png") is None
    await storage.delete("a/uploads/file_1.png")  # deleting twice is fine
    await storage.delete_prefix("a/gen_1")


async def test_keys_that_could_escape_are_refused(storage: Storage, tmp_path: Path) -> None:
    for key in ("../x.png", "/abs.png", "a//b.png", "a/./b.png"):
        with pytest.raises(ValueError, match="invalid storage key"):
            await storage.put_file(key, a_file(tmp_path / "work", b"x"))


async def test_url_is_the_platforms_signed_url_on_every_backend(
    storage: Storage, tmp_path: Path
) -> None:
    await storage.put_file("acct/gen_1/0.png", a_file(tmp_path / "work", b"png"))
    url = urlparse(storage.url("acct/gen_1/0.png", base_url="https://api.example/", ttl_s=60))
    assert (url.scheme, url.netloc, url.path) == ("https", "api.example", "/files/acct/gen_1/0.png")
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert SIGNER.verify("acct/gen_1/0.png", int(query["expires"]), query["signature"])


async def test_direct_url_serves_ranges_from_the_object_store(
    storage: Storage, tmp_path: Path
) -> None:
    content = os.urandom(5000)
    await storage.put_file("acct/gen_1/0.mp4", a_file(tmp_path / "work", content))
    direct = storage.direct_url("acct/gen_1/0.mp4", ttl_s=60)
    if storage.local_path("acct/gen_1/0.mp4") is not None:
        assert direct is None  # local disk: the API itself serves the bytes
        return
    assert direct is not None
    async with httpx.AsyncClient(trust_env=False) as client:
        whole = await client.get(direct)
        part = await client.get(direct, headers={"Range": "bytes=100-199"})
        tampered = await client.get(direct.replace("Signature=", "Signature=0"))
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["content-type"] == "video/mp4"
    assert part.status_code == 206 and part.content == content[100:200]
    assert part.headers["content-range"] == "bytes 100-199/5000"
    assert tampered.status_code == 403


async def test_a_large_file_is_uploaded_in_parts(s3_server: S3Server, tmp_path: Path) -> None:
    """11 MiB with 5 MiB parts: three parts (S3's ETag of a multipart object ends in -3)."""
    prefix = f"multipart-{uuid.uuid4().hex}"
    settings = make_settings(tmp_path / "data", **s3_server.settings(prefix))
    storage = storage_from_url(settings.resolved_storage_url, SIGNER, s3_options(settings))
    content = os.urandom(11 * 1024 * 1024)
    await storage.put_file("acct/gen_1/0.mp4", a_file(tmp_path / "work", content))
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=f"{prefix}/acct/gen_1/0.mp4")
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == len(content)
    target = tmp_path / "back.mp4"
    await storage.copy_to("acct/gen_1/0.mp4", target)
    assert target.read_bytes() == content


def test_s3_storage_is_configured_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEDIASTUDIO_STORAGE_URL", "s3://media-bucket/outputs/v1")
    monkeypatch.setenv("MEDIASTUDIO_STORAGE__ENDPOINT_URL", "http://s3.internal:8333")
    monkeypatch.setenv("MEDIASTUDIO_STORAGE__REGION", "eu-west-1")
    monkeypatch.setenv("MEDIASTUDIO_STORAGE__ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("MEDIASTUDIO_STORAGE__SECRET_ACCESS_KEY", "very-secret")
    monkeypatch.setenv("MEDIASTUDIO_STORAGE__ADDRESSING_STYLE", "path")
    settings = make_settings(tmp_path / "data")
    assert "very-secret" not in repr(settings)
    options = s3_options(settings)
    assert options is not None
    assert (options.endpoint_url, options.region) == ("http://s3.internal:8333", "eu-west-1")
    assert (options.access_key_id, options.secret_access_key) == ("AKIDEXAMPLE", "very-secret")
    storage = storage_from_url(settings.resolved_storage_url, SIGNER, options)
    assert storage.local_path("acct/gen_1/0.png") is None  # callers copy_to instead
    direct = storage.direct_url("acct/gen_1/0.png", ttl_s=60)
    assert direct is not None
    assert direct.startswith("http://s3.internal:8333/media-bucket/outputs/v1/acct/gen_1/0.png?")
    # The local disk stays the default, with no S3 options at all.
    monkeypatch.delenv("MEDIASTUDIO_STORAGE_URL")
    assert s3_options(make_settings(tmp_path / "data")) is None


def test_bad_storage_urls_stop_start_up() -> None:
    with pytest.raises(ValueError, match="names no bucket"):
        storage_from_url("s3:///prefix", SIGNER)
    with pytest.raises(ValueError, match="unsupported storage URL scheme"):
        storage_from_url("gs://bucket", SIGNER)


async def test_a_wrong_bucket_or_key_stops_start_up(s3_server: S3Server, tmp_path: Path) -> None:
    wrong_secret = s3_server.settings("x")
    wrong_secret["storage"]["secret_access_key"] = "not-the-secret"
    no_bucket = {**s3_server.settings("x"), "storage_url": "s3://no-such-bucket-here/x"}
    for overrides in (wrong_secret, no_bucket):
        settings = make_settings(tmp_path / "data", **overrides)
        storage = storage_from_url(settings.resolved_storage_url, SIGNER, s3_options(settings))
        with pytest.raises(StorageUnreachable, match="cannot be used") as stopped:
            await storage.ensure_reachable()
        assert "not-the-secret" not in str(stopped.value)
    with pytest.raises(StorageUnreachable):  # the server does not start
        async with open_api(make_settings(tmp_path / "data", **no_bucket)):
            pass
