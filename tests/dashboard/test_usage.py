"""The Usage page: its charts add up to the ledger (and to the generations) day by day and type
by type, on both databases; the ledger pages; the quotas are the API's; another account's rows
never show; ledger text is escaped."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest

from mediastudio.accounts import service as accounts
from mediastudio.credits import repository as ledger_repository
from mediastudio.credits import service as credits
from mediastudio.credits.models import LedgerEntry
from mediastudio.dashboard import service
from mediastudio.generations import repository as generations
from mediastudio.kit.clock import utcnow
from mediastudio.kit.ids import new_id
from mediastudio.users import service as users
from tests.conftest import Api, auth
from tests.dashboard.helpers import PASSWORD, make_user, signed_in

FIGURE = re.compile(r'<figure class="chart" id="([a-z-]+)">(.*?)</figure>', re.S)
BAR = re.compile(r'<rect class="bar"[^>]*data-label="([^"]*)" data-value="(\d+)"')
LEDGER_ROW = re.compile(r"<tr>\s*<td>\d{4}-\d\d-\d\d \d\d:\d\d UTC</td>")


def charts(html: str) -> dict[str, dict[str, int]]:
    """Each chart's bars as the SVG draws them: label → value."""
    return {
        chart_id: {label: int(value) for label, value in BAR.findall(body)}
        for chart_id, body in FIGURE.findall(html)
    }


def nonzero(bars: dict[str, int]) -> dict[str, int]:
    return {label: value for label, value in bars.items() if value}


async def charged_job(
    api: Api, account_id: str, when: datetime, type_: str, charged: int, *, sandbox: bool = False
) -> str:
    """A finished generation made at ``when`` and its ledger rows (reserve, then capture, or a
    refund when ``charged`` is 0), written as the runtime writes them but at that time."""
    ms = int(when.timestamp() * 1000)
    generation_id = new_id("gen", now_ms=ms)
    rows = [("reserve", -max(charged, 4), max(charged, 4))]
    rows.append(("capture", 0, -charged) if charged else ("refund", 4, -4))
    async with api.platform.db.write() as session:
        await generations.new(
            session,
            id=generation_id,
            account_id=account_id,
            type=type_,
            model=f"builtin/{type_}-model",
            status="completed" if charged else "failed",
            input={},
            prompt="p",
            credits_charged=charged,
            sandbox=sandbox,
            created_at=when,
        )
        if sandbox:
            return generation_id
        for offset, (kind, amount, reserved) in enumerate(rows):
            await ledger_repository.append(
                session,
                LedgerEntry(
                    id=new_id("txn", now_ms=ms + offset),
                    account_id=account_id,
                    kind=kind,
                    amount=amount,
                    reserved_delta=reserved,
                    balance_after=0,
                    generation_id=generation_id,
                    created_at=when + timedelta(milliseconds=offset),
                ),
            )
    return generation_id


@pytest.mark.databases
async def test_the_charts_equal_the_ledger_and_show_no_other_account(api: Api) -> None:
    account = await make_user(api)
    other = await make_user(api, "b@example.com")
    now = utcnow()
    today = now.date()
    first_day = datetime.combine(today - timedelta(days=29), time(), UTC)
    made = [
        (now, "image", 5),
        (now, "image", 7),
        (now, "speech", 3),
        (now, "speech", 0),  # failed: reserved, then refunded; a job, no charge
        (now - timedelta(days=3), "image", 10),
        (first_day + timedelta(minutes=1), "speech", 2),  # the oldest day shown
        (first_day - timedelta(minutes=1), "image", 100),  # a day too old
    ]
    for when, type_, charged in made:
        await charged_job(api, account, when, type_, charged)
    await charged_job(api, account, now, "image", 0, sandbox=True)  # free, and not live
    await charged_job(api, other, now, "video", 50)
    await charged_job(api, other, now - timedelta(days=3), "image", 40)

    await signed_in(api.client)
    page = await api.client.get("/dashboard/usage")
    assert page.status_code == 200, page.text
    drawn = charts(page.text)
    assert list(drawn) == ["jobs-per-day", "credits-per-day", "jobs-per-type", "credits-per-type"]
    assert len(drawn["jobs-per-day"]) == len(drawn["credits-per-day"]) == 30
    assert min(drawn["jobs-per-day"]) == first_day.date().isoformat()
    assert max(drawn["jobs-per-day"]) == today.isoformat()

    # What the ledger says, summed here row by row.
    async with api.platform.db.read() as session:
        ledger = await credits.ledger(
            session, account, sandbox=False, limit=1000, starting_after=None
        )
    captures = [row for row in ledger if row.kind == "capture" and row.created_at >= first_day]
    per_day: Counter[str] = Counter()
    for row in captures:
        per_day[row.created_at.date().isoformat()] += -row.reserved_delta
    assert nonzero(drawn["credits-per-day"]) == dict(per_day)
    assert dict(per_day) == {
        today.isoformat(): 15,
        (today - timedelta(days=3)).isoformat(): 10,
        first_day.date().isoformat(): 2,
    }
    assert nonzero(drawn["credits-per-type"]) == {"image": 22, "speech": 5}
    assert sum(drawn["credits-per-type"].values()) == sum(per_day.values())

    assert nonzero(drawn["jobs-per-day"]) == {
        today.isoformat(): 4,
        (today - timedelta(days=3)).isoformat(): 1,
        first_day.date().isoformat(): 1,
    }
    assert drawn["jobs-per-type"] == {"image": 3, "speech": 3}
    # The other account's video, its 50 and 40 credits: nowhere.
    assert "video" not in page.text and 'data-value="50"' not in page.text
    assert 'data-value="40"' not in page.text
    # Accessible: each chart names itself and has its numbers as a table too.
    assert page.text.count('role="img"') == 4
    assert '<title id="credits-per-day-title">' in page.text
    assert "<summary>Data table" in page.text

    # The per-type charts, as dashboard.service.per_type_charts makes them, and an operator's
    # page of the account draws the very same ones.
    async with api.platform.db.read() as session:
        made_charts = await service.per_type_charts(session, account, service.usage_since(now))
    assert [chart.id for chart in made_charts] == ["jobs-per-type", "credits-per-type"]
    operator = await api.account("op@example.com", credits=0)
    async with api.platform.db.write() as session:
        await users.create_user(
            session,
            account_id=operator,
            email="op@example.com",
            password=PASSWORD,
            is_operator=True,
        )
    await signed_in(api.client, "op@example.com")
    seen = await api.client.get(f"/dashboard/operator/accounts/{account}")
    assert seen.status_code == 200, seen.text
    on_operator_page = charts(seen.text)
    assert list(on_operator_page) == ["jobs-per-type", "credits-per-type"]
    assert on_operator_page["jobs-per-type"] == drawn["jobs-per-type"]
    assert on_operator_page["credits-per-type"] == drawn["credits-per-type"]


async def test_the_ledger_pages_escapes_and_keeps_to_its_account(api: Api) -> None:
    account = await make_user(api)
    other = await make_user(api, "b@example.com")
    async with api.platform.db.write() as session:
        for number in range(29):
            await credits.grant(session, account, 1, f"grant {number}")
        await credits.grant(session, account, 1, "<script>alert(1)</script>")
        await credits.grant(session, other, 5, "other account's grant")
    async with api.platform.db.read() as session:
        other_row = (
            await credits.ledger(session, other, sandbox=False, limit=1, starting_after=None)
        )[0]

    assert (await api.client.get("/dashboard/usage")).headers["location"] == "/dashboard/login"
    await signed_in(api.client)
    first = await api.client.get("/dashboard/usage")
    assert len(LEDGER_ROW.findall(first.text)) == 25  # of 31: the opening grant and 30
    assert "<script>alert(1)</script>" not in first.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first.text
    older = re.search(r'href="/dashboard/usage\?after=([^"]+)" rel="next"', first.text)
    assert older, first.text
    second = await api.client.get(f"/dashboard/usage?after={older[1]}")
    assert len(LEDGER_ROW.findall(second.text)) == 6
    assert 'rel="next"' not in second.text and "grant 0<" in second.text
    for html in (first.text, second.text):
        assert "other account" not in html
    # Another account's cursor only moves this account's page.
    crossed = await api.client.get(f"/dashboard/usage?after={other_row.id}")
    assert "other account" not in crossed.text


async def test_quotas_used_today_are_the_apis(api: Api) -> None:
    async with api.platform.db.write() as session:
        account = await accounts.create(
            session, api.platform.settings, email="f@example.com", plan="free", credits_granted=50
        )
        await users.create_user(
            session, account_id=account.id, email="f@example.com", password=PASSWORD
        )
    await charged_job(api, account.id, utcnow(), "image", 2)
    await charged_job(api, account.id, utcnow(), "image", 2, sandbox=True)  # no quota
    key = await api.key(account.id)
    usage = (await api.client.get("/api/v1/account", headers=auth(key))).json()["usage"]
    assert usage["image"]["today"] == 1

    await signed_in(api.client, "f@example.com")
    page = (await api.client.get("/dashboard/usage")).text
    quota = api.platform.settings.plan("free").daily_quotas["image"]
    assert f"<tr><td>image</td><td>1</td><td>{quota}</td></tr>" in page
    assert page.count("<tr><td>") >= len(usage)  # every quota the API lists
    assert 'aria-current="page">Usage' in page
