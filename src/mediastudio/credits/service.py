"""Credit rules: grant, reserve, capture, refund. Each writes one ledger row.

Callers pass the session of the transaction that changes the generation, so a generation's
status and its money always move together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.credits import repository
from mediastudio.credits.models import LedgerEntry
from mediastudio.kit.errors import InsufficientCredits, InvalidRequest
from mediastudio.kit.ids import new_id


async def grant(session: AsyncSession, account_id: str, amount: int, description: str) -> int:
    if amount <= 0:
        raise InvalidRequest("A grant must be a positive number of credits.")
    balance = await repository.adjust(session, account_id, amount, 0)
    await _record(session, account_id, "grant", amount, 0, balance, None, description)
    return balance


async def reserve(session: AsyncSession, account_id: str, amount: int, generation_id: str) -> None:
    if amount <= 0:
        return
    balance = await repository.take_available(session, account_id, amount)
    if balance is None:
        available = await repository.available(session, account_id)
        raise InsufficientCredits(
            f"You need {amount} credits but only have {available}.",
            details={"required": amount, "available": available},
        )
    await _record(session, account_id, "reserve", -amount, amount, balance, generation_id, "")


async def capture(session: AsyncSession, account_id: str, amount: int, generation_id: str) -> None:
    if amount <= 0:
        return
    balance = await repository.adjust(session, account_id, 0, -amount)
    await _record(session, account_id, "capture", 0, -amount, balance, generation_id, "")


async def refund(
    session: AsyncSession, account_id: str, amount: int, generation_id: str, reason: str
) -> None:
    if amount <= 0:
        return
    balance = await repository.adjust(session, account_id, amount, -amount)
    await _record(session, account_id, "refund", amount, -amount, balance, generation_id, reason)


async def ledger(
    session: AsyncSession,
    account_id: str,
    *,
    sandbox: bool,
    limit: int,
    starting_after: str | None,
) -> Sequence[LedgerEntry]:
    """The ledger as one mode sees it. Sandbox jobs never move credits, so every entry is live
    money: a sandbox key's ledger is empty, never the live one (whose generations it cannot
    read)."""
    if sandbox:
        return []
    return await repository.page(session, account_id, limit=limit, starting_after=starting_after)


async def _record(
    session: AsyncSession,
    account_id: str,
    kind: str,
    amount: int,
    reserved_delta: int,
    balance_after: int,
    generation_id: str | None,
    description: str,
) -> None:
    await repository.append(
        session,
        LedgerEntry(
            id=new_id("txn"),
            account_id=account_id,
            kind=kind,
            amount=amount,
            reserved_delta=reserved_delta,
            balance_after=balance_after,
            generation_id=generation_id,
            description=description,
        ),
    )
