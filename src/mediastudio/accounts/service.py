"""Account rules: creation, plans, and the account summary the API shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts import repository
from mediastudio.accounts.models import Account
from mediastudio.credits import service as credits
from mediastudio.generations import repository as generations
from mediastudio.kit.clock import start_of_utc_day, utcnow
from mediastudio.kit.errors import InvalidRequest, NotFound
from mediastudio.kit.ids import new_id
from mediastudio.settings import Settings


class EmailTaken(InvalidRequest):
    """An account already has this email (a caller may answer it in its own words)."""


async def create(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    plan: str | None = None,
    credits_granted: int = 0,
    name: str = "",
) -> Account:
    plan = plan or settings.default_plan
    if plan not in settings.plans:
        raise InvalidRequest(f"Unknown plan {plan!r}; configured plans: {sorted(settings.plans)}")
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidRequest("An account needs an email address.")
    if await repository.get_by_email(session, email) is not None:
        raise EmailTaken(f"An account with email {email} already exists.")
    account = await repository.add(
        session, Account(id=new_id("acc"), email=email, name=name, plan=plan)
    )
    if credits_granted:
        await credits.grant(session, account.id, credits_granted, "initial grant")
    return account


async def require(session: AsyncSession, email_or_id: str) -> Account:
    account = await repository.get(session, email_or_id) or await repository.get_by_email(
        session, email_or_id.strip().lower()
    )
    if account is None:
        raise NotFound(f"No account {email_or_id!r}.")
    return account


async def find_by_email(session: AsyncSession, email: str) -> Account | None:
    return await repository.get_by_email(session, email.strip().lower())


async def list_all(session: AsyncSession) -> Sequence[Account]:
    return await repository.list_all(session)


async def page(
    session: AsyncSession, *, limit: int, starting_after: str | None
) -> Sequence[Account]:
    """Every account, newest first, for the operator's pages; ``starting_after`` is the last
    id of the previous page."""
    return await repository.page(session, limit=limit, starting_after=starting_after)


async def summary(
    session: AsyncSession, settings: Settings, account_id: str, *, sandbox: bool
) -> dict[str, Any]:
    """The account as one mode sees it: plan, limits and credits are the account's own; usage
    counts only this mode's generations (sandbox jobs have no daily quota)."""
    account = await repository.get(session, account_id)
    if account is None:
        raise NotFound()
    plan = settings.plan(account.plan)
    today = await generations.count_by_type_since(
        session, account_id, start_of_utc_day(utcnow()), sandbox=sandbox
    )
    quotas = {} if sandbox else plan.daily_quotas
    usage = {
        type_: {"today": today.get(type_, 0), "daily_quota": quotas.get(type_)}
        for type_ in sorted(set(today) | set(quotas))
    }
    return {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "plan": account.plan,
        "credit_balance": account.credit_balance,
        "credits_reserved": account.credits_reserved,
        "limits": {
            "rate_limit": plan.rate_limit,
            "generation_rate_limit": plan.generation_rate_limit,
            "max_concurrent_jobs": plan.max_concurrent_jobs,
        },
        "usage": usage,
        "created_at": account.created_at,
    }


MAX_NAME_LENGTH = 200  # the column's size


def check_name(name: str) -> str:
    """An account's display name as it will be stored, or InvalidRequest; blank is allowed."""
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"An account name has at most {MAX_NAME_LENGTH} characters.")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise InvalidRequest("An account name cannot contain control characters.")
    return name


async def rename(session: AsyncSession, account_id: str, name: str) -> Account:
    """Set the account's display name (the dashboard's Settings page); blank clears it."""
    name = check_name(name)
    account = await repository.get(session, account_id)
    if account is None:
        raise NotFound(f"No account {account_id!r}.")
    account.name = name
    await session.flush()
    return account
