"""The operator pages: every account, one account, a credit grant that the ledger records and
the account's own key then sees; everyone but an operator gets the answer of a route that does
not exist, on every page and form; CSRF; hostile names escaped."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from mediastudio.accounts import service as accounts
from mediastudio.credits.models import LedgerEntry
from mediastudio.dashboard import operator_service
from mediastudio.users import service as users
from tests.conftest import Api, auth
from tests.dashboard.helpers import PASSWORD, make_user, signed_in, without_request_id

OPERATOR = "/dashboard/operator"
XSS = '<script>alert("n")</script>'
ACCOUNT_EMAIL = re.compile(
    r'<tr data-account="[^"]+">\s*<td data-label="Account"><a [^>]+>([^<]+)<'
)


async def make_operator(api: Api, email: str = "op@example.com") -> str:
    account_id = await api.account(email, credits=0)
    async with api.platform.db.write() as session:
        await users.create_user(
            session, account_id=account_id, email=email, password=PASSWORD, is_operator=True
        )
    return account_id


@pytest.fixture
async def other_browser(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api.client._transport.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def grant_url(account_id: str) -> str:
    return f"{OPERATOR}/accounts/{account_id}/grant"


GRANT_TOKEN = re.compile(r'name="grant_token" value="([^"]+)"')


async def grant_token(client: httpx.AsyncClient, account_id: str) -> str:
    """The one-time token of the Grant form, as the account's page shows it."""
    page = await client.get(f"{OPERATOR}/accounts/{account_id}")
    assert page.status_code == 200, page.text
    found = GRANT_TOKEN.search(page.text)
    assert found, page.text
    return found[1]


async def grants_of(api: Api, account_id: str) -> list[int]:
    """The account's grant rows in the ledger: what was really granted, however often asked."""
    async with api.platform.db.read() as session:
        rows = await session.execute(
            select(LedgerEntry.amount)
            .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == "grant")
            .order_by(LedgerEntry.id)
        )
        return list(rows.scalars())


async def balance(api: Api, key: str) -> int:
    response = await api.client.get("/api/v1/account", headers=auth(key))
    assert response.status_code == 200, response.text
    value: int = response.json()["credit_balance"]
    return value


@pytest.mark.databases
async def test_an_operator_sees_every_account_and_grants_credits(api: Api) -> None:
    customer = await make_user(api)  # a@example.com, not an operator
    key = await api.key(customer)
    created = await api.client.post(
        "/api/v1/generate/image",
        json={"prompt": "a lighthouse", "model": "fake/image"},
        headers=auth(key),
    )
    assert created.status_code in (200, 201, 202), created.text
    job = created.json()["id"]
    await api.wait(key, job)
    await make_operator(api)
    csrf = await signed_in(api.client, "op@example.com")

    home = await api.client.get("/dashboard")
    assert f'href="{OPERATOR}"' in home.text  # the nav entry, for operators only
    listed = await api.client.get(OPERATOR)
    assert listed.status_code == 200, listed.text
    rows = re.findall(r'<tr data-account="([^"]+)">', listed.text)
    assert customer in rows and len(rows) == 2  # every account, the operator's own too
    row = listed.text.split(f'data-account="{customer}"')[1].split("</tr>")[0]
    assert "a@example.com" in row and "unlimited" in row
    cells = re.findall(r'data-label="Live jobs today">(\d+)<', row)
    assert cells == ["1"]
    before = await balance(api, key)
    assert f'class="balance">{before}<' in row

    page = await api.client.get(f"{OPERATOR}/accounts/{customer}")
    assert page.status_code == 200, page.text
    assert "a@example.com" in page.text and job in page.text  # its user, its recent job
    assert re.search(r'id="keys">1<', page.text)

    form = {"csrf_token": csrf, "amount": "250", "reason": "ticket 12"}
    form["grant_token"] = await grant_token(api.client, customer)
    granted = await api.client.post(grant_url(customer), data=form)
    assert granted.status_code == 303, granted.text
    location = granted.headers["location"]
    assert re.fullmatch(rf"{OPERATOR}/accounts/{customer}\?granted=txn_\w+", location)
    after = await api.client.get(location)
    entry = location.rsplit("=", 1)[1]
    assert f'<tr data-entry="{entry}" class="granted">' in after.text
    assert f'id="balance">{before + 250}<' in after.text
    assert "granted by op@example.com: ticket 12" in after.text
    # The account's own key sees the grant: balance, and the ledger's newest entry.
    assert await balance(api, key) == before + 250
    ledger = await api.client.get("/api/v1/account/ledger", headers=auth(key))
    newest = ledger.json()["data"][0]
    assert newest["kind"] == "grant" and newest["amount"] == 250
    assert newest["description"] == "granted by op@example.com: ticket 12"
    async with api.platform.db.read() as session:
        grants = (
            await session.execute(
                select(LedgerEntry).where(
                    LedgerEntry.account_id == customer, LedgerEntry.kind == "grant"
                )
            )
        ).scalars()
        assert sorted(entry.amount for entry in grants) == [250, 1000]  # initial, and ours


async def test_a_bad_grant_or_a_missing_csrf_token_changes_nothing(api: Api) -> None:
    customer = await make_user(api)
    key = await api.key(customer)
    await make_operator(api)
    csrf = await signed_in(api.client, "op@example.com")
    before = await balance(api, key)
    token = await grant_token(api.client, customer)
    for amount, reason in (
        ("0", "x"),
        ("-5", "x"),
        ("ten", "x"),
        ("2.5", "x"),
        (str(operator_service.MAX_GRANT + 1), "x"),
        ("10", ""),
        ("10", "y" * (operator_service.MAX_REASON + 1)),
        ("10", "line\nbreak"),
    ):
        form = {"csrf_token": csrf, "amount": amount, "reason": reason, "grant_token": token}
        refused = await api.client.post(grant_url(customer), data=form)
        assert refused.status_code == 400 and 'class="error"' in refused.text, (amount, reason)
    no_csrf = await api.client.post(grant_url(customer), data={"amount": "10", "reason": "x"})
    assert no_csrf.status_code == 403
    wrong_csrf = await api.client.post(
        grant_url(customer), data={"csrf_token": "nope", "amount": "10", "reason": "x"}
    )
    assert wrong_csrf.status_code == 403
    unknown = await api.client.post(
        grant_url("acc_nope"),
        data={"csrf_token": csrf, "amount": "10", "reason": "x", "grant_token": token},
    )
    assert unknown.status_code == 404
    assert (await api.client.get(f"{OPERATOR}/accounts/acc_nope")).status_code == 404
    assert await balance(api, key) == before


@pytest.mark.databases
async def test_a_replayed_grant_form_grants_once_and_a_fresh_form_grants_again(
    api: Api, other_browser: httpx.AsyncClient
) -> None:
    """The Grant form's one-time token: the same form sent again (a double submit, back and
    resubmit) answers the same 303 and writes no second ledger row; the token used for another
    amount or account is 409, a form without one 400; the next form shown grants again."""
    customer = await make_user(api)
    key = await api.key(customer)
    other = await api.account("b@example.com", credits=0)
    await make_operator(api)
    csrf = await signed_in(api.client, "op@example.com")
    assert await grants_of(api, customer) == [1000]  # the account's initial credits
    before = await balance(api, key)
    token = await grant_token(api.client, customer)
    form = {"csrf_token": csrf, "amount": "40", "reason": "ticket 7", "grant_token": token}

    first = await api.client.post(grant_url(customer), data=form)
    assert first.status_code == 303, first.text
    location = first.headers["location"]
    for _ in range(2):  # a double submit, then back and resubmit
        again = await api.client.post(grant_url(customer), data=form)
        assert (again.status_code, again.headers["location"]) == (303, location)
    assert await grants_of(api, customer) == [1000, 40]
    assert await balance(api, key) == before + 40

    for changed in ({"amount": "41"}, {"reason": "ticket 8"}):
        conflict = await api.client.post(grant_url(customer), data=form | changed)
        assert conflict.status_code == 409, conflict.text
        assert "already used for another grant" in conflict.text
    elsewhere = await api.client.post(grant_url(other), data=form)
    assert elsewhere.status_code == 409, elsewhere.text
    # Another operator who somehow holds the token cannot replay it as their own grant either.
    await make_operator(api, "op2@example.com")
    other_csrf = await signed_in(other_browser, "op2@example.com")
    theirs = await other_browser.post(grant_url(customer), data=form | {"csrf_token": other_csrf})
    assert theirs.status_code == 409, theirs.text
    for missing in ({"grant_token": ""}, {"grant_token": "short"}):
        refused = await api.client.post(grant_url(customer), data=form | missing)
        assert refused.status_code == 400 and "grant token" in refused.text
    without = {name: value for name, value in form.items() if name != "grant_token"}
    assert (await api.client.post(grant_url(customer), data=without)).status_code == 400
    assert await grants_of(api, customer) == [1000, 40]
    assert await grants_of(api, other) == []

    fresh = form | {"grant_token": await grant_token(api.client, customer)}
    assert fresh["grant_token"] != token  # each form shown has its own token
    second = await api.client.post(grant_url(customer), data=fresh)
    assert second.status_code == 303 and second.headers["location"] != location
    assert await grants_of(api, customer) == [1000, 40, 40]
    assert await balance(api, key) == before + 80


async def test_everyone_but_an_operator_gets_a_404_on_every_operator_page_and_form(
    api: Api, other_browser: httpx.AsyncClient
) -> None:
    customer = await make_user(api)
    key = await api.key(customer)
    await make_operator(api)
    before = await balance(api, key)
    csrf = await signed_in(api.client)  # a@example.com: signed in, not an operator
    assert OPERATOR not in (await api.client.get("/dashboard")).text  # no nav entry

    forms: list[dict[str, str]] = [
        {"csrf_token": csrf, "amount": "10", "reason": "x"},
        {"csrf_token": csrf, "amount": "not a number", "reason": "y" * 3000},
        {},
    ]
    for client in (api.client, other_browser):  # signed in as a user; signed in as nobody
        # The 404 page of a route that does not exist, as this browser sees it (with its own
        # navigation when signed in: dashboard error pages are pages).
        unknown = without_request_id(await client.get("/dashboard/no-such-page"))
        assert unknown[0] == 404
        unknown_post = without_request_id(await client.post("/dashboard/no-such-page"))
        for path in (OPERATOR, f"{OPERATOR}?after=acc_x", f"{OPERATOR}/accounts/{customer}"):
            got = await client.get(path)
            assert without_request_id(got) == unknown, path
            with_key = await client.get(path, headers=auth(key))  # an API key opens nothing
            assert without_request_id(with_key) == unknown, path
        for form in forms:
            got = await client.post(grant_url(customer), data=form)
            assert without_request_id(got) == unknown_post, form
        for method in ("HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "GET"):
            # No 405 either, which would tell an existing path from a missing one.
            for path in (OPERATOR, grant_url(customer), f"{OPERATOR}/accounts/{customer}"):
                got = await client.request(method, path)
                missing = await client.request(method, "/dashboard/no-such-page")
                assert without_request_id(got) == without_request_id(missing), (method, path)
    assert await balance(api, key) == before

    # The flag is read at every request: taken away, the pages are gone at once.
    operator_browser = other_browser
    await signed_in(operator_browser, "op@example.com")
    assert (await operator_browser.get(OPERATOR)).status_code == 200
    async with api.platform.db.write() as session:
        found = await users.users_of(session, (await accounts_of(api, "op@example.com")))
        found[0].is_operator = False
    assert without_request_id(await operator_browser.get(OPERATOR)) == unknown


async def accounts_of(api: Api, email: str) -> str:
    async with api.platform.db.read() as session:
        return (await accounts.require(session, email)).id


async def test_hostile_names_and_reasons_are_escaped(api: Api) -> None:
    customer = await make_user(api)
    async with api.platform.db.write() as session:
        await accounts.rename(session, customer, f"Team {XSS}")
    await make_operator(api)
    csrf = await signed_in(api.client, "op@example.com")
    token = await grant_token(api.client, customer)
    granted = await api.client.post(
        grant_url(customer),
        data={"csrf_token": csrf, "amount": "5", "reason": XSS, "grant_token": token},
    )
    assert granted.status_code == 303
    refused = await api.client.post(
        grant_url(customer),
        data={"csrf_token": csrf, "amount": "x", "reason": XSS, "grant_token": token},
    )
    assert refused.status_code == 400
    for page in (
        await api.client.get(OPERATOR),
        await api.client.get(f"{OPERATOR}/accounts/{customer}"),
        refused,
    ):
        assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text


@pytest.mark.databases
async def test_the_account_list_pages_with_its_cursor(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operator_service, "ACCOUNTS_PAGE", 2)
    await make_operator(api)
    for n in range(3):
        await api.account(f"c{n}@example.com")
    await signed_in(api.client, "op@example.com")
    seen: list[str] = []
    url: str | None = OPERATOR
    while url is not None:
        page = await api.client.get(url)
        assert page.status_code == 200, page.text
        seen += ACCOUNT_EMAIL.findall(page.text)
        found = re.search(r'href="([^"]+)" rel="next"', page.text)
        url = found[1].replace("&amp;", "&") if found else None
    assert seen == ["c2@example.com", "c1@example.com", "c0@example.com", "op@example.com"]
