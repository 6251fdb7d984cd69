"""A client that goes away in the middle of an upload: no error in the log, no file left."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api.test_uploads import png_bytes
from tests.conftest import auth, make_settings
from tests.live_server import serve_live

PROC_FDS = Path("/proc/self/fd")
SENT = 2 * 1024 * 1024  # over Starlette's 1 MiB in-memory spool: the part reaches a disk file


def open_deleted_files() -> set[str]:
    """This process's open files that have no name any more (spooled temporary files)."""
    targets = set()
    for fd in os.listdir(PROC_FDS):
        try:
            target = os.readlink(PROC_FDS / fd)
        except OSError:
            continue
        if target.endswith(" (deleted)"):
            targets.add(target)
    return targets


async def until(condition: Callable[[], object], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.mark.skipif(not PROC_FDS.is_dir(), reason="needs /proc to see open files")
async def test_a_client_that_disconnects_mid_upload_leaves_no_file_and_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    data_dir = tmp_path / "data"
    async with serve_live(make_settings(data_dir)) as api:
        key = await api.key(await api.account())
        assert (await api.client.get("/api/v1/files", headers=auth(key))).status_code == 200
        already_open = open_deleted_files()
        boundary = "disconnecting"
        preamble = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        head = (
            "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {key}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(preamble) + 3 * SENT}\r\n\r\n"
        ).encode()
        port = api.base_url.rsplit(":", 1)[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(head + preamble + png_bytes() + b"\0" * SENT)
        await writer.drain()
        # The part is being spooled to a temporary file: the upload is really under way.
        await until(lambda: open_deleted_files() - already_open)

        writer.close()
        await writer.wait_closed()
        await until(lambda: api.requests_in_flight == 0)

        assert open_deleted_files() - already_open == set()  # the partial spool is gone
        uploads = data_dir / "uploads"
        assert not uploads.exists() or not any(uploads.iterdir())
        listed = (await api.client.get("/api/v1/files", headers=auth(key))).json()
        assert listed["data"] == []
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == [], [r.getMessage() for r in problems]
