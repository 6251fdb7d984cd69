"""HTTP for the caller's own account and its credit ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from mediastudio.accounts import service
from mediastudio.credits import service as credits
from mediastudio.keys.auth import ReadPrincipal
from mediastudio.kit.errors import ERROR_RESPONSES
from mediastudio.platform import Platform, get_platform

router = APIRouter(prefix="/api/v1/account", tags=["account"], responses=ERROR_RESPONSES)
PlatformDep = Annotated[Platform, Depends(get_platform)]


class AccountRead(BaseModel):
    id: str
    email: str
    name: str
    plan: str
    credit_balance: int
    credits_reserved: int
    limits: dict[str, Any]
    usage: dict[str, dict[str, int | None]]
    created_at: datetime
    sandbox: bool


class LedgerEntryRead(BaseModel):
    id: str
    kind: str
    amount: int
    reserved_delta: int
    balance_after: int
    generation_id: str | None
    description: str
    created_at: datetime


class LedgerPage(BaseModel):
    object: str = "list"
    data: list[LedgerEntryRead]
    has_more: bool
    next_cursor: str | None


@router.get("", response_model=AccountRead, summary="Plan, credits and today's usage")
async def get_account(platform: PlatformDep, principal: ReadPrincipal) -> AccountRead:
    async with platform.db.read() as session:
        summary = await service.summary(
            session, platform.settings, principal.account_id, sandbox=principal.sandbox
        )
    return AccountRead(**summary, sandbox=principal.sandbox)


@router.get(
    "/ledger",
    response_model=LedgerPage,
    summary="Credit transactions, newest first (live keys; a sandbox key's ledger is empty)",
)
async def get_ledger(
    platform: PlatformDep,
    principal: ReadPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[str | None, Query(max_length=40)] = None,
) -> LedgerPage:
    async with platform.db.read() as session:
        rows = await credits.ledger(
            session,
            principal.account_id,
            sandbox=principal.sandbox,
            limit=limit + 1,
            starting_after=starting_after,
        )
    items = [LedgerEntryRead.model_validate(row, from_attributes=True) for row in rows[:limit]]
    has_more = len(rows) > limit
    return LedgerPage(
        data=items, has_more=has_more, next_cursor=items[-1].id if has_more and items else None
    )
