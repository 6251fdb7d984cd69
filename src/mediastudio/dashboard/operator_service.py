"""What the operator pages show, gathered from the domain services, and the one thing they
change: a credit grant, through ``credits.grant_once`` (one ledger row, as ``mediastudio
accounts grant`` writes it), once per Grant form. Who may call these is decided by the pages
(dashboard/operator.py)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts import service as accounts
from mediastudio.accounts.models import Account
from mediastudio.credits import service as credits
from mediastudio.credits.models import LedgerEntry
from mediastudio.dashboard import service as dashboard
from mediastudio.dashboard.charts import Chart
from mediastudio.generations import repository as generations
from mediastudio.generations.models import Generation
from mediastudio.keys import service as keys
from mediastudio.kit.clock import start_of_utc_day
from mediastudio.kit.db import Database
from mediastudio.kit.errors import InvalidRequest
from mediastudio.settings import Settings
from mediastudio.users import service as users
from mediastudio.users.models import User
from mediastudio.users.service import Current

ACCOUNTS_PAGE = 50
RECENT_LEDGER = 10
# One grant at most: the balance is a 32-bit column on PostgreSQL, so a typo of a few extra
# digits must be refused here rather than overflow it.
MAX_GRANT = 10_000_000
MAX_REASON = 160  # "granted by <email>: <reason>" fits the ledger's 500-character description
# A Grant form's one-time token: 32 random bytes, URL-safe base64 (43 characters).
GRANT_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass(frozen=True)
class AccountRow:
    account: Account
    jobs_today: int  # live generations since midnight UTC (the ones the quotas count)


@dataclass(frozen=True)
class AccountList:
    rows: Sequence[AccountRow]
    older: str | None  # the cursor of the next page (older accounts), if there is one


async def account_list(session: AsyncSession, now: datetime, *, after: str | None) -> AccountList:
    """One page of every account, newest first, with each one's live jobs today (one GROUP BY
    for the page, not one query an account)."""
    found = await accounts.page(session, limit=ACCOUNTS_PAGE + 1, starting_after=after)
    page = found[:ACCOUNTS_PAGE]
    today = await generations.count_live_since_by_account(
        session, [account.id for account in page], start_of_utc_day(now)
    )
    rows = [AccountRow(account=account, jobs_today=today.get(account.id, 0)) for account in page]
    older = page[-1].id if len(found) > ACCOUNTS_PAGE else None
    return AccountList(rows=rows, older=older)


@dataclass(frozen=True)
class AccountDetail:
    account: dict[str, Any]  # accounts.summary (live): what GET /api/v1/account shows
    users: Sequence[User]
    keys: int
    active_keys: int
    recent: Sequence[Generation]  # the newest of both modes, as the account's own home shows
    ledger: Sequence[LedgerEntry]
    charts: Sequence[Chart]  # per model type, last 30 days: the account's own Usage charts


async def account_detail(
    session: AsyncSession, settings: Settings, account_id: str, now: datetime
) -> AccountDetail:
    """One account as an operator sees it; an unknown id raises NotFound (404)."""
    account = await accounts.require(session, account_id)
    overview = await dashboard.overview(session, settings, account.id)
    rows = await keys.list_keys(session, account.id)
    active = sum(1 for key in rows if keys.status_of(key, now) == "active")
    ledger = await credits.ledger(
        session, account.id, sandbox=False, limit=RECENT_LEDGER, starting_after=None
    )
    return AccountDetail(
        account=overview.account,
        users=await users.users_of(session, account.id),
        keys=len(rows),
        active_keys=active,
        recent=overview.recent,
        ledger=ledger,
        charts=await dashboard.per_type_charts(session, account.id, dashboard.usage_since(now)),
    )


def parse_grant(amount: str, reason: str) -> tuple[int, str]:
    """The grant form's amount and reason, or InvalidRequest saying what is wrong."""
    try:
        credits_ = int(amount.strip())
    except ValueError as exc:
        raise InvalidRequest("The amount is a whole number of credits.") from exc
    if not 0 < credits_ <= MAX_GRANT:
        raise InvalidRequest(f"A grant is between 1 and {MAX_GRANT:,} credits.")
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("Give a reason: the ledger keeps it with the grant.")
    if len(reason) > MAX_REASON:
        raise InvalidRequest(f"A reason has at most {MAX_REASON} characters.")
    if any(ord(char) < 32 or ord(char) == 127 for char in reason):
        raise InvalidRequest("A reason cannot contain control characters.")
    return credits_, reason


def new_grant_token() -> str:
    """The one-time token each Grant form is shown with; stored only once the form is used."""
    return secrets.token_urlsafe(32)


def parse_grant_token(token: str) -> str:
    token = token.strip()
    if not GRANT_TOKEN.fullmatch(token):
        raise InvalidRequest("This form has no valid grant token: reload the page and try again.")
    return token


async def grant(
    db: Database, operator: Current, account_id: str, token: str, amount: int, reason: str
) -> credits.Granted:
    """Add credits to the account through ``credits.grant_once``, which writes the ledger row
    (its description names the operator) once per ``token``: a replayed form answers with the
    first post's ledger entry (``replayed``), a token of another grant is a Conflict (409)."""
    description = f"granted by {operator.email}: {reason}"
    try:
        async with db.write() as session:
            account = await accounts.require(session, account_id)
            return await credits.grant_once(session, token, account.id, amount, description)
    except IntegrityError:
        # The same form posted at the same moment: the other post inserted the token first and
        # this transaction, its grant included, rolled back. Answer with the other's entry.
        async with db.read() as session:
            found = await credits.grant_of_token(session, token, account_id, amount, description)
        if found is None:
            raise
        return found
