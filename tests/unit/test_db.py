"""The transaction boundary: commit, then after-commit hooks."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from mediastudio.kit.db import Database, after_commit


async def test_a_failing_after_commit_hook_does_not_undo_or_hide_the_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("queue is gone")

    async with db.write() as session:
        await session.execute(text("CREATE TABLE t (x INTEGER)"))
        await session.execute(text("INSERT INTO t VALUES (1)"))
        after_commit(session, broken)
        after_commit(session, lambda: ran.append("second"))
    assert ran == ["second"]
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    await db.dispose()
