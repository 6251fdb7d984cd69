"""What the pages show, gathered from the domain services; no rule of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts import service as accounts
from mediastudio.generations import repository as generations
from mediastudio.generations.models import Generation
from mediastudio.settings import Settings

RECENT = 10


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
