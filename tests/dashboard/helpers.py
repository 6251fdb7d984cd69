"""Signing in to the dashboard over HTTP, as a browser does: the login page's CSRF token, the
form post, the session cookie."""

from __future__ import annotations

import json
import re

import httpx

from mediastudio.users import service as users
from tests.conftest import Api

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SESSION = "ms_session"


async def make_user(
    api: Api, email: str = "a@example.com", *, password: str = PASSWORD, credits: int = 1000
) -> str:
    """An account and its user with ``email``; the account's id."""
    account_id = await api.account(email, credits=credits)
    async with api.platform.db.write() as session:
        await users.create_user(session, account_id=account_id, email=email, password=password)
    return account_id


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, html
    return found[1]


async def sign_in(
    client: httpx.AsyncClient, email: str = "a@example.com", password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/dashboard/login")
    assert page.status_code == 200, page.text
    return await client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
    )


async def signed_in(client: httpx.AsyncClient, email: str = "a@example.com") -> str:
    """Sign in; the session's CSRF token (read from a page, as htmx would)."""
    response = await sign_in(client, email)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard"
    home = await client.get("/dashboard")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


def without_request_id(response: httpx.Response) -> tuple[int, str, str]:
    """What tells one 404 from another: status, type and body, less the per-request id."""
    text = response.text
    try:
        body = json.loads(text)
        body.get("error", {}).pop("request_id", None)
        text = json.dumps(body, sort_keys=True)
    except ValueError:
        text = re.sub(r"req_[0-9A-Za-z]+", "", text)
    return response.status_code, response.headers.get("content-type", ""), text
