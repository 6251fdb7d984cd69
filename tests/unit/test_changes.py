"""The change counter next to the SQLite file: which writes count, and that they count once
committed, whichever process or connection made them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from mediastudio.kit.changes import ChangeCounter, touches_watched
from mediastudio.kit.db import Base, Database
from mediastudio.migrations import upgrade


def test_which_statements_count() -> None:
    metadata = Base.metadata
    counted = [
        "UPDATE api_keys SET revoked_at=? WHERE api_keys.id = ?",
        "UPDATE api_keys SET scopes=?, name=? WHERE api_keys.id = ?",
        'UPDATE "accounts" SET plan=? WHERE accounts.id = ?',
        "DELETE FROM api_keys WHERE api_keys.id = ?",
        "delete from accounts",
    ]
    ignored = [
        "UPDATE api_keys SET last_used_at=? WHERE api_keys.id = ?",
        "UPDATE accounts SET credit_balance=(accounts.credit_balance - ?), "
        "credits_reserved=(accounts.credits_reserved + ?) WHERE accounts.id = ?",
        "INSERT INTO api_keys (id, account_id) VALUES (?, ?)",
        "UPDATE generations SET status=? WHERE generations.id = ?",
        "DELETE FROM generations WHERE generations.id = ?",
        "SELECT api_keys.id FROM api_keys",
    ]
    assert [touches_watched(s, metadata) for s in counted] == [True] * len(counted)
    assert [touches_watched(s, metadata) for s in ignored] == [False] * len(ignored)


async def test_the_counter_moves_after_the_commit_of_a_watched_change(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    db = Database(url)
    await upgrade(db)
    assert db.changes is not None
    start = db.changes.version()
    async with db.write() as session:
        await session.execute(
            text(
                "INSERT INTO accounts (id, email, name, plan, credit_balance, credits_reserved, "
                "created_at) VALUES ('acc_1', 'a@x.io', '', 'free', 0, 0, '2026-01-01')"
            )
        )
        await session.execute(text("UPDATE accounts SET credit_balance = 5 WHERE id = 'acc_1'"))
    assert db.changes.version() == start  # neither an insert nor a balance counts
    async with db.write() as session:
        await session.execute(text("UPDATE accounts SET plan = 'pro' WHERE id = 'acc_1'"))
        assert db.changes.version() == start  # not before the commit
    assert db.changes.version() == (start[0] + 1, start[1] + 1)
    await db.dispose()


def test_a_change_the_file_cannot_count_still_moves_this_process_s_version(
    tmp_path: Path,
) -> None:
    """A full disk (here: a directory where the file should be) refuses the append; this
    process's own caches must still see its change."""
    counter = ChangeCounter(tmp_path / "changes")
    (tmp_path / "changes").unlink()
    (tmp_path / "changes").mkdir()
    before = counter.version()
    counter.bump()
    assert counter.version() != before


def test_another_process_moves_the_counter_this_one_reads(tmp_path: Path) -> None:
    """What `mediastudio keys revoke` does to a running server: its own Database, its own
    process, the same counter file."""
    path = tmp_path / "p.db"
    script = f"""
import asyncio
from sqlalchemy import text
from mediastudio.kit.db import Database
import mediastudio.accounts.models  # declares what is watched, as any process writing does
async def main():
    db = Database("sqlite+aiosqlite:///{path}")
    async with db.write() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS accounts (id TEXT, plan TEXT)"))
        await session.execute(text("UPDATE accounts SET plan = 'pro'"))
    await db.dispose()
asyncio.run(main())
"""
    counter = Path(f"{path}-changes")
    subprocess.run([sys.executable, "-c", script], check=True)
    first = counter.stat().st_size
    subprocess.run([sys.executable, "-c", script], check=True)
    assert counter.stat().st_size == first + 1
