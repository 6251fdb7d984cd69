"""What the pages show, gathered from the domain services; no rule of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts import service as accounts
from mediastudio.credits import repository as ledger_repository
from mediastudio.credits import service as credits
from mediastudio.credits.models import LedgerEntry
from mediastudio.dashboard.charts import Chart, bar_chart
from mediastudio.generations import repository as generations
from mediastudio.generations.models import Generation
from mediastudio.settings import Settings

RECENT = 10
LEDGER_PAGE = 25
USAGE_DAYS = 30


@dataclass(frozen=True)
class Overview:
    account: dict[str, Any]
    recent: Sequence[Generation]


async def overview(session: AsyncSession, settings: Settings, account_id: str) -> Overview:
    """The account's live summary (balance, reserved, today's usage) and its newest jobs of
    both modes."""
    summary = await accounts.summary(session, settings, account_id, sandbox=False)
    rows: list[Generation] = []
    for sandbox in (False, True):
        rows += await generations.page(
            session,
            account_id,
            generations.Filters(),
            sandbox=sandbox,
            limit=RECENT,
            offset=0,
            starting_after=None,
        )
    rows.sort(key=lambda row: row.id, reverse=True)  # ids sort by creation time
    return Overview(account=summary, recent=rows[:RECENT])


@dataclass(frozen=True)
class Usage:
    account: dict[str, Any]  # accounts.summary: balances, and today's use against the quotas
    ledger: Sequence[LedgerEntry]
    older: str | None  # the cursor of the next (older) ledger page, if there is one
    charts: Sequence[Chart]


async def usage(
    session: AsyncSession,
    settings: Settings,
    account_id: str,
    now: datetime,
    *,
    ledger_after: str | None,
) -> Usage:
    """The Usage page: the live balance and quotas (the summary ``GET /api/v1/account`` shows,
    counted by the code that enforces the quotas), a page of the ledger, and four charts of the
    last ``USAGE_DAYS`` UTC days, each one GROUP BY in a repository. Live mode only: sandbox jobs
    are free and have no quota."""
    summary = await accounts.summary(session, settings, account_id, sandbox=False)
    rows = await credits.ledger(
        session, account_id, sandbox=False, limit=LEDGER_PAGE + 1, starting_after=ledger_after
    )
    older = rows[LEDGER_PAGE - 1].id if len(rows) > LEDGER_PAGE else None
    today = now.astimezone(UTC).date()
    days = [(today - timedelta(days=back)).isoformat() for back in range(USAGE_DAYS - 1, -1, -1)]
    since = datetime.combine(today - timedelta(days=USAGE_DAYS - 1), time(), UTC)
    jobs_per_day = await generations.count_per_day_since(session, account_id, since)
    charged_per_day = await ledger_repository.charged_per_day_since(session, account_id, since)
    jobs_per_type = await generations.count_by_type_since(session, account_id, since)
    charged_per_type = await ledger_repository.charged_per_type_since(session, account_id, since)
    by_type = sorted({type_ or "deleted" for type_ in charged_per_type} | set(jobs_per_type))
    type_credits = {type_ or "deleted": total for type_, total in charged_per_type.items()}
    charts = [
        bar_chart(
            "jobs-per-day",
            f"Generations per day, last {USAGE_DAYS} days",
            "generations",
            [(day, jobs_per_day.get(day, 0)) for day in days],
            tick_every=7,
            tick=_month_day,
        ),
        bar_chart(
            "credits-per-day",
            f"Credits charged per day, last {USAGE_DAYS} days",
            "credits",
            [(day, charged_per_day.get(day, 0)) for day in days],
            tick_every=7,
            tick=_month_day,
        ),
        bar_chart(
            "jobs-per-type",
            f"Generations per type, last {USAGE_DAYS} days",
            "generations",
            [(type_, jobs_per_type.get(type_, 0)) for type_ in by_type],
        ),
        bar_chart(
            "credits-per-type",
            f"Credits charged per type, last {USAGE_DAYS} days",
            "credits",
            [(type_, type_credits.get(type_, 0)) for type_ in by_type],
        ),
    ]
    return Usage(account=summary, ledger=rows[:LEDGER_PAGE], older=older, charts=charts)


def _month_day(day: str) -> str:
    return day[5:]  # 2026-12-02 → 12-02: five characters fit under a week of bars
