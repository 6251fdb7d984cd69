"""What the pages show, gathered from the domain services; no rule of its own."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediastudio.accounts import service as accounts
from mediastudio.credits import repository as ledger_repository
from mediastudio.credits import service as credits
from mediastudio.credits.models import LedgerEntry
from mediastudio.dashboard.charts import Chart, bar_chart
from mediastudio.engines.contract import ModelSpec
from mediastudio.generations import repository as generations
from mediastudio.generations.models import Generation, Status
from mediastudio.generations.repository import Filters
from mediastudio.generations.schemas import GenerationRead, present
from mediastudio.generations.service import NewGeneration, cancellable, retryable
from mediastudio.idempotency.service import check_key, request_hash
from mediastudio.keys.principal import Principal
from mediastudio.keys.service import ALL_SCOPES
from mediastudio.kit.errors import InvalidRequest, NotFound
from mediastudio.platform import Platform
from mediastudio.settings import Settings
from mediastudio.users.service import Current
from mediastudio.webhooks.models import WebhookDelivery, WebhookEndpoint
from mediastudio.webhooks.schemas import DeliveryRead, WebhookRead

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
    since = usage_since(now)
    jobs_per_day = await generations.count_per_day_since(session, account_id, since)
    charged_per_day = await ledger_repository.charged_per_day_since(session, account_id, since)
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
        *await per_type_charts(session, account_id, since),
    ]
    return Usage(account=summary, ledger=rows[:LEDGER_PAGE], older=older, charts=charts)


def usage_since(now: datetime) -> datetime:
    """Midnight UTC ``USAGE_DAYS - 1`` days ago: the first day the charts show."""
    today = now.astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=USAGE_DAYS - 1), time(), UTC)


async def per_type_charts(session: AsyncSession, account_id: str, since: datetime) -> list[Chart]:
    """The account's live generations and the credits charged since ``since``, per model type
    (image, video, speech, …): two bar charts over the same types, for the Usage page and an
    operator's view of the account. A charge whose generation was deleted since counts under
    ``deleted`` (the ledger keeps it)."""
    jobs_per_type = await generations.count_by_type_since(session, account_id, since)
    charged_per_type = await ledger_repository.charged_per_type_since(session, account_id, since)
    by_type = sorted({type_ or "deleted" for type_ in charged_per_type} | set(jobs_per_type))
    type_credits = {type_ or "deleted": total for type_, total in charged_per_type.items()}
    return [
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


def _month_day(day: str) -> str:
    return day[5:]  # 2026-12-02 → 12-02: five characters fit under a week of bars


# --- History (issue 14): the account's generations through the API's GenerationService ----

HISTORY_PAGE = 20
MODES = ("live", "test")


@dataclass(frozen=True)
class HistoryQuery:
    """The History page's filters, as the list route's: all optional but the mode."""

    mode: str = "live"
    status: str | None = None
    type: str | None = None
    model: str | None = None
    after: str | None = None  # the cursor: the last id of the previous page


@dataclass(frozen=True)
class Row:
    """One generation as the API presents it, and which actions the API would accept on it."""

    job: GenerationRead
    can_cancel: bool
    can_retry: bool


@dataclass(frozen=True)
class History:
    rows: Sequence[Row]
    next_cursor: str | None


async def acting_as(platform: Platform, user: Current, *, sandbox: bool) -> Principal:
    """The principal a signed-in user acts as: their account, in one mode, with every scope
    (a person of the account may do what any of its keys may). ``key_id`` names the session's
    user, never a key, so nothing can mistake it for one."""
    async with platform.db.read() as session:
        account = await accounts.require(session, user.account_id)
    return Principal(
        account_id=account.id,
        key_id=f"web:{user.user_id}",
        sandbox=sandbox,
        scopes=frozenset(ALL_SCOPES),
        plan_name=account.plan,
        plan=platform.settings.plan(account.plan),
    )


def check_history_query(platform: Platform, query: HistoryQuery) -> HistoryQuery:
    """Refuse what the list route refuses: an unknown status, type or mode (400)."""
    if query.mode not in MODES:
        raise InvalidRequest(f"Unknown mode {query.mode!r}; modes: live, test.")
    if query.status is not None and query.status not in set(Status):
        known = ", ".join(status.value for status in Status)
        raise InvalidRequest(f"Unknown status {query.status!r}; known statuses: {known}")
    if query.type is not None:
        platform.catalog.check_type(query.type, field="type")
    return query


def row(urls: Callable[[str], str], generation: Generation) -> Row:
    return Row(
        job=present(generation, urls),
        can_cancel=cancellable(generation),
        can_retry=retryable(generation),
    )


async def history(
    platform: Platform, user: Current, query: HistoryQuery, urls: Callable[[str], str]
) -> History:
    """One page of the account's generations of one mode, newest first, through the same
    ``GenerationService.list`` as ``GET /api/v1/generations``."""
    query = check_history_query(platform, query)
    principal = await acting_as(platform, user, sandbox=query.mode == "test")
    filters = Filters(type=query.type, status=query.status, model=query.model)
    page = await platform.generations.list(
        principal, filters, limit=HISTORY_PAGE, offset=0, starting_after=query.after
    )
    return History(rows=[row(urls, item) for item in page.items], next_cursor=page.next_cursor)


async def find(
    platform: Platform, user: Current, generation_id: str
) -> tuple[Generation, Principal]:
    """The account's generation of either mode, and the principal of that mode to act on it
    with. Another account's, like a missing one, raises NotFound (404)."""
    generation_id = generation_id[:40]
    for sandbox in (False, True):
        principal = await acting_as(platform, user, sandbox=sandbox)
        try:
            return await platform.generations.get(principal, generation_id), principal
        except NotFound:
            continue
    raise NotFound(f"No generation {generation_id!r}.")


# --- Settings (issue 14): the account's name and seed 001's default webhook URL -------------


@dataclass(frozen=True)
class AccountSettings:
    name: str
    webhook_url: str | None
    new_secret: str | None = None  # the default endpoint's secret, only when it was just made


async def account_settings(platform: Platform, user: Current) -> AccountSettings:
    principal = await acting_as(platform, user, sandbox=False)
    async with platform.db.read() as session:
        account = await accounts.require(session, user.account_id)
    endpoint = await platform.webhooks.default_url(principal)
    return AccountSettings(name=account.name, webhook_url=endpoint.url if endpoint else None)


async def save_settings(
    platform: Platform, user: Current, *, name: str, webhook_url: str | None
) -> AccountSettings:
    """The name through ``accounts.rename``, the URL through ``WebhookService.set_default_url``
    (what seed 001's ``PATCH /api/settings`` calls: the same SSRF checks, made before it writes;
    ``None`` removes the endpoint). The name is checked first, so bad input changes nothing."""
    name = accounts.check_name(name)
    principal = await acting_as(platform, user, sandbox=False)
    before = await platform.webhooks.default_url(principal)
    endpoint = await platform.webhooks.set_default_url(principal, webhook_url)
    async with platform.db.write() as session:
        account = await accounts.rename(session, user.account_id, name)
    created = endpoint is not None and before is None
    return AccountSettings(
        name=account.name,
        webhook_url=endpoint.url if endpoint else None,
        new_secret=endpoint.secret if endpoint is not None and created else None,
    )


# --- Playground (issue 14): a catalog model run from a form made from its input schema ------


@dataclass(frozen=True)
class ModelChoice:
    """A model as the picker shows it: what it costs, and where it can run now."""

    id: str
    name: str
    type: str
    description: str
    credits: int  # per price_unit
    price_unit: str
    max_seconds: float | None  # what an ``output_second`` job reserves
    runs_test: bool
    runs_live: bool
    live_reason: str | None  # why a live run would be refused (no engine, sandbox-only, …)

    @property
    def price(self) -> str:
        """The live price as a person reads it, in the catalog's unit (``pricing.unit``)."""
        if self.price_unit == "output":
            return f"{self.credits} credits per output"
        if self.price_unit == "second":
            return f"{self.credits} credits a second"
        if self.price_unit == "output_second":
            return (
                f"{self.credits} credits a second of output, "
                f"{self.credits * math.ceil(self.max_seconds or 1)} reserved"
            )
        return f"{self.credits} credits"


def _choice(platform: Platform, spec: ModelSpec) -> ModelChoice:
    live = platform.catalog.availability(spec, sandbox=False)
    return ModelChoice(
        id=spec.id,
        name=spec.name,
        type=spec.type,
        description=spec.description,
        credits=platform.catalog.price(spec),
        price_unit=spec.price_unit,
        max_seconds=spec.max_output_s,
        runs_test=platform.catalog.availability(spec, sandbox=True).available,
        runs_live=live.available,
        live_reason=None if live.available else live.reason,
    )


async def playground_models(
    platform: Platform, user: Current
) -> list[tuple[str, list[ModelChoice]]]:
    """The catalog models the account's plan allows (``Catalog.offered``), by type."""
    principal = await acting_as(platform, user, sandbox=True)
    grouped: dict[str, list[ModelChoice]] = {}
    for spec in platform.catalog.offered(principal):
        grouped.setdefault(spec.type, []).append(_choice(platform, spec))
    return sorted(grouped.items())


@dataclass(frozen=True)
class PlaygroundModel:
    choice: ModelChoice
    schema: dict[str, Any]  # the input JSON Schema, as GET /api/v1/models/{id} shows it


async def playground_model(platform: Platform, user: Current, model_id: str) -> PlaygroundModel:
    """One model of the picker; one the plan excludes, or retired, is 404 like an unknown one."""
    principal = await acting_as(platform, user, sandbox=True)
    offered = {spec.id: spec for spec in platform.catalog.offered(principal)}
    spec = offered.get(model_id[:200])
    if spec is None:
        raise NotFound(f"No model {model_id[:200]!r} for this account.")
    return PlaygroundModel(
        choice=_choice(platform, spec), schema=spec.input_model.model_json_schema()
    )


async def run(
    platform: Platform,
    user: Current,
    model_id: str,
    input: dict[str, Any],
    *,
    sandbox: bool,
    run_token: str | None,
) -> Generation:
    """Create the job through ``GenerationService.create``, as ``POST /api/v1/generations``
    does (validation, credits, quotas, idempotency). The form's ``run_token`` is its
    Idempotency-Key: a form sent twice (a double click, a reload of the answer) gets the first
    job back instead of a second one."""
    principal = await acting_as(platform, user, sandbox=sandbox)
    new = NewGeneration(input=input, model=model_id, field_prefix="input.")
    key = check_key(run_token) if run_token else None
    fingerprint = (
        request_hash("POST", "/api/v1/generations", {"model": model_id, "input": input})
        if key is not None
        else ""
    )
    created = await platform.generations.create(
        principal, new, idempotency_key=key, fingerprint=fingerprint
    )
    if created.replay is not None:
        return await platform.generations.get(principal, str(created.replay.body["id"]))
    assert created.generation is not None
    return created.generation


# --- Webhooks (issue 14): the account's endpoints and deliveries through WebhookService ------

DELIVERIES_PAGE = 20
REQUEST_EXCERPT = (
    500  # characters of the signed body a row shows (the sender keeps 1 KiB of answers)
)


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as ``GET /api/v1/webhooks`` presents it (never its secret), and the body
    format its deliveries carry, which the API's shape leaves out."""

    hook: WebhookRead
    payload_format: str


@dataclass(frozen=True)
class Delivery:
    """A delivery as the API presents it, and the start of the body it sends (the API's shape
    leaves the body out)."""

    read: DeliveryRead
    request_excerpt: str

    @property
    def mode(self) -> str:
        return "test" if self.read.sandbox else "live"


def delivery(row: WebhookDelivery) -> Delivery:
    return Delivery(read=DeliveryRead.of(row), request_excerpt=row.payload[:REQUEST_EXCERPT])


@dataclass(frozen=True)
class DeliveryLog:
    rows: Sequence[Delivery]
    next_cursor: str | None


def sandbox_of(mode: str) -> bool:
    """A page's mode as a key's: ``live`` or ``test`` (sandbox); anything else is a 400, as an
    unknown mode is on the History page."""
    if mode not in MODES:
        raise InvalidRequest(f"Unknown mode {mode!r}; modes: live, test.")
    return mode == "test"


def endpoint(hook: WebhookEndpoint) -> Endpoint:
    return Endpoint(hook=WebhookRead.of(hook), payload_format=hook.payload_format)


async def webhooks(platform: Platform, user: Current) -> Sequence[Endpoint]:
    """The account's endpoints, oldest first, as ``GET /api/v1/webhooks`` lists them. Endpoints
    belong to the account, not to a mode: a live and a test key list the same ones."""
    principal = await acting_as(platform, user, sandbox=False)
    return [endpoint(hook) for hook in await platform.webhooks.list(principal)]


async def find_webhook(platform: Platform, user: Current, webhook_id: str) -> Endpoint:
    """The account's endpoint; another account's, like a missing one, raises NotFound."""
    principal = await acting_as(platform, user, sandbox=False)
    return endpoint(await platform.webhooks.get(principal, webhook_id[:40]))


async def delivery_log(
    platform: Platform, user: Current, webhook_id: str, *, mode: str, after: str | None
) -> DeliveryLog:
    """One page of an endpoint's deliveries of one mode, newest first, through the same
    ``WebhookService.deliveries`` as ``GET /api/v1/webhooks/{id}/deliveries`` (which shows a
    live key the live ones and a test key the sandbox ones)."""
    principal = await acting_as(platform, user, sandbox=sandbox_of(mode))
    rows = await platform.webhooks.deliveries(
        principal, webhook_id[:40], limit=DELIVERIES_PAGE + 1, starting_after=after
    )
    shown = [delivery(row) for row in rows[:DELIVERIES_PAGE]]
    more = len(rows) > DELIVERIES_PAGE and bool(shown)
    return DeliveryLog(rows=shown, next_cursor=shown[-1].read.id if more else None)


async def find_delivery(
    platform: Platform, user: Current, delivery_id: str
) -> tuple[Delivery, Principal]:
    """The account's delivery of either mode, and the principal of that mode to act on it with
    (as ``find`` does for generations); another account's raises NotFound."""
    delivery_id = delivery_id[:40]
    for sandbox in (False, True):
        principal = await acting_as(platform, user, sandbox=sandbox)
        try:
            return delivery(await platform.webhooks.delivery(principal, delivery_id)), principal
        except NotFound:
            continue
    raise NotFound(f"No webhook delivery {delivery_id!r}.")


async def redeliver(platform: Platform, user: Current, delivery_id: str) -> Delivery:
    """``POST /api/v1/webhook-deliveries/{id}/retry``'s ``WebhookService.retry_delivery``: the
    same event id and bytes, sent again now."""
    found, principal = await find_delivery(platform, user, delivery_id)
    return delivery(await platform.webhooks.retry_delivery(principal, found.read.id))


async def send_test(platform: Platform, user: Current, webhook_id: str, *, mode: str) -> None:
    """A ``webhook.test`` event in the page's mode, as a key of that mode sends it."""
    principal = await acting_as(platform, user, sandbox=sandbox_of(mode))
    await platform.webhooks.send_test(principal, webhook_id[:40])


async def act_on_webhook(platform: Platform, user: Current) -> Principal:
    """The principal that changes an endpoint (endpoints have no mode; live, as any key)."""
    return await acting_as(platform, user, sandbox=False)
