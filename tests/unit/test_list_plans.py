"""Every filter of the generations list is read in cursor order from an index of its own.

A structural check, not a timing one: SQLite's plan (``EXPLAIN QUERY PLAN``) of the exact
statement ``repository.page`` sends names the index meant for the filter and sorts nothing in a
temporary B-tree, so a page stops after ``limit + 1`` rows however many the account holds
(docs/benchmarks.md, "Listing at scale").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from mediastudio.generations import repository
from mediastudio.generations.repository import Filters
from mediastudio.kit.db import Database
from mediastudio.migrations import upgrade

CASES = [
    (Filters(), "ix_generations_account_id_sandbox_id"),
    (Filters(type="image"), "ix_generations_account_id_sandbox_type_id"),
    (Filters(status="completed"), "ix_generations_account_id_sandbox_status_id"),
    (Filters(model="sandbox/image"), "ix_generations_account_id_sandbox_model_id"),
    (Filters(external_id="order-7"), "ix_generations_account_id_sandbox_external_id_id"),
]


async def plan_of_page(db: Database, filters: Filters, *, sandbox: bool, cursor: str | None) -> str:
    """The plan of the statement ``repository.page`` executes, with its own parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    # The list reads through read_one() (GenerationService.list), as here.
    event.listen(db.read_one_engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.read_one() as session:
            rows = await repository.page(
                session,
                "acc_1",
                filters,
                sandbox=sandbox,
                limit=20,
                offset=0,
                starting_after=cursor,
            )
    finally:
        event.remove(db.read_one_engine.sync_engine, "before_cursor_execute", record)
    assert rows == []
    (statement, parameters), *_ = [s for s in sent if "FROM generations" in s[0]]
    async with db.read_engine.connect() as connection:
        result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "; ".join(str(row[-1]) for row in result.all())


@pytest.mark.parametrize("sandbox", [True, False])
@pytest.mark.parametrize("cursor", [None, "gen_01m8ttzcn4qbprg53w6wjky6me"])
@pytest.mark.parametrize(("filters", "index"), CASES)
async def test_each_list_filter_pages_through_its_index_without_sorting(
    tmp_path: Path, filters: Filters, index: str, sandbox: bool, cursor: str | None
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}")
    await upgrade(db)
    try:
        plan = await plan_of_page(db, filters, sandbox=sandbox, cursor=cursor)
    finally:
        await db.dispose()
    assert f"USING INDEX {index} (account_id=? AND sandbox=?" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    if cursor is not None:
        assert "id<?" in plan, plan  # the cursor is a range of the index, not a filter


async def test_combined_filters_still_sort_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}")
    await upgrade(db)
    try:
        plan = await plan_of_page(
            db,
            Filters(type="image", status="completed", model="m", external_id="x"),
            sandbox=False,
            cursor="gen_1",
        )
    finally:
        await db.dispose()
    assert "USING INDEX ix_generations_account_id_sandbox_" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
