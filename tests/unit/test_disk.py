"""kit/disk: what a full volume raises is recognised wherever it came from; free space is read
from the volume and cached for a second."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text

from mediastudio.kit.db import Database
from mediastudio.kit.disk import DiskGuard, DiskSpace, is_disk_full
from tests.volumes import MIB, fill, free_bytes, small_volume


def raised_by(action: object) -> BaseException:
    assert callable(action)
    with pytest.raises(Exception) as caught:
        action()
    return caught.value


def encode_video(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        noise = np.random.default_rng(0).integers(0, 255, (10, 64, 64, 3), dtype=np.uint8)
        for pixels in noise:
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


async def test_what_a_full_volume_raises_is_recognised(tmp_path: Path) -> None:
    with small_volume(tmp_path / "volume", size_mib=4) as volume:
        with closing(sqlite3.connect(volume / "db.sqlite")) as setup:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.execute("CREATE TABLE t (x BLOB)")
            setup.commit()
        # Closed: its WAL is checkpointed and removed, so the next commit must grow a file.
        db = Database(f"sqlite+aiosqlite:///{volume / 'db.sqlite'}")
        fill(volume)

        image = raised_by(lambda: Image.new("RGB", (300, 300), "red").save(volume / "a.png"))
        video = raised_by(lambda: encode_video(volume / "a.mp4"))
        with sqlite3.connect(volume / "raw.sqlite") as raw:
            database = raised_by(lambda: raw.execute("CREATE TABLE t (x)"))
        with pytest.raises(Exception) as through_sqlalchemy:
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (randomblob(100000))"))
        await db.dispose()

    for exc in (image, video, database, through_sqlalchemy.value):
        assert is_disk_full(exc), repr(exc)
    wrapped = ValueError("the engine's own error")
    wrapped.__cause__ = video
    assert is_disk_full(wrapped)


def test_other_errors_are_not_a_full_disk(tmp_path: Path) -> None:
    missing = raised_by(lambda: (tmp_path / "missing").read_bytes())
    with sqlite3.connect(tmp_path / "db.sqlite") as connection:
        no_table = raised_by(lambda: connection.execute("SELECT * FROM nothing"))
    for exc in (missing, no_table, RuntimeError("boom"), PermissionError(13, "denied")):
        assert not is_disk_full(exc)


def test_the_floor_counts_what_is_about_to_be_written() -> None:
    space = DiskSpace(free_bytes=10 * MIB, min_free_bytes=4 * MIB)
    assert space.ok and space.room_for(6 * MIB) and not space.room_for(6 * MIB + 1)
    assert not DiskSpace(free_bytes=3 * MIB, min_free_bytes=4 * MIB).ok


def test_free_space_is_the_volume_s_and_is_read_again_after_a_second(tmp_path: Path) -> None:
    with small_volume(tmp_path / "volume", size_mib=8) as volume:
        now = [0.0]
        guard = DiskGuard(
            [volume / "data" / "not-yet-created", tmp_path], 2 * MIB, clock=lambda: now[0]
        )
        first = guard.space()
        assert first.free_bytes == free_bytes(volume)  # the fuller of the two volumes
        assert first.ok

        (volume / "big").write_bytes(b"\1" * (7 * MIB))
        now[0] = 0.5
        assert guard.space() == first  # cached: no system call on every request
        now[0] = 1.0
        assert guard.space().free_bytes == free_bytes(volume) < 2 * MIB
        assert not guard.space().ok


def test_postgresqls_disk_full_is_recognised_through_sqlalchemys_wrapper() -> None:
    """asyncpg's ``disk_full`` (SQLSTATE 53100), as a PostgreSQL deployment's commit meets it."""
    import asyncpg
    from sqlalchemy.exc import OperationalError

    raised = asyncpg.exceptions.DiskFullError("could not extend file: No space left on device")
    assert is_disk_full(raised)
    assert is_disk_full(OperationalError("COMMIT", None, raised))
    assert not is_disk_full(
        OperationalError("COMMIT", None, asyncpg.exceptions.DeadlockDetectedError("x"))
    )
