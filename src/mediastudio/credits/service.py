"""Credit rules: grant, reserve, capture, refund. Each writes one ledger row.

Callers pass the session of the transaction that changes the generation, so a generation's
status and its money always move together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.credits import repository
from mediastudio.credits.models import CreditGrantToken, LedgerEntry
from mediastudio.kit.errors import Conflict, InsufficientCredits, InvalidRequest
from mediastudio.kit.ids import new_id


async def grant(session: AsyncSession, account_id: str, amount: int, description: str) -> int:
    if amount <= 0:
        raise InvalidRequest("A grant must be a positive number of credits.")
    balance = await repository.adjust(session, account_id, amount, 0)
    await _record(session, account_id, "grant", amount, 0, balance, None, description)
    return balance


@dataclass(frozen=True)
class Granted:
    ledger_entry_id: str
    replayed: bool  # the token was used before: this call granted nothing


async def grant_once(
    session: AsyncSession, token: str, account_id: str, amount: int, description: str
) -> Granted:
    """Grant like :func:`grant`, at most once per ``token`` (a form's one-time token).

    A token used before for this very grant (account, amount, description) answers with the
    ledger entry its first use wrote and changes nothing; used for another grant it is a
    Conflict (409). Two uses at the same moment: the second one's insert of the token fails on
    the primary key (IntegrityError) and its transaction, grant included, rolls back; the caller
    reads the winner with :func:`grant_of_token`.
    """
    used = await repository.grant_token(session, token)
    if used is not None:
        return _replayed(used, account_id, amount, description)
    if amount <= 0:
        raise InvalidRequest("A grant must be a positive number of credits.")
    balance = await repository.adjust(session, account_id, amount, 0)
    entry = await _record(session, account_id, "grant", amount, 0, balance, None, description)
    await repository.add_grant_token(
        session,
        CreditGrantToken(
            token=token,
            account_id=account_id,
            amount=amount,
            description=description,
            ledger_entry_id=entry,
        ),
    )
    return Granted(ledger_entry_id=entry, replayed=False)


async def grant_of_token(
    session: AsyncSession, token: str, account_id: str, amount: int, description: str
) -> Granted | None:
    """What :func:`grant_once` answers for a token already used, or None if it is not."""
    used = await repository.grant_token(session, token)
    return None if used is None else _replayed(used, account_id, amount, description)


def _replayed(used: CreditGrantToken, account_id: str, amount: int, description: str) -> Granted:
    if (used.account_id, used.amount, used.description) != (account_id, amount, description):
        raise Conflict("This form was already used for another grant. Reload the page.")
    return Granted(ledger_entry_id=used.ledger_entry_id, replayed=True)


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
) -> str:
    """Append the ledger row; its id."""
    entry_id = new_id("txn")
    await repository.append(
        session,
        LedgerEntry(
            id=entry_id,
            account_id=account_id,
            kind=kind,
            amount=amount,
            reserved_delta=reserved_delta,
            balance_after=balance_after,
            generation_id=generation_id,
            description=description,
        ),
    )
    return entry_id
