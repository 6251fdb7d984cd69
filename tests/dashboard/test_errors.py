"""The dashboard's errors and expired sessions: an error on a page is an HTML page in the
dashboard's layout (an htmx request gets a fragment) while the API keeps its JSON envelope; an
htmx request without a session is sent to sign in with HX-Redirect and comes back through a
same-site ``next``; the Playground run card's Cancel refunds the job through the API's cancel."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import delete, update

from mediastudio.dashboard import service
from mediastudio.dashboard.errors import dashboard_path
from mediastudio.kit.clock import utcnow
from mediastudio.users.models import WebSession
from tests.conftest import Api, auth, make_settings, open_api
from tests.dashboard.helpers import PASSWORD, csrf_of, make_user, signed_in
from tests.fakes import IMAGE_CREDITS

HTMX = {"HX-Request": "true"}
PLAYGROUND = "/dashboard/playground"
EVIL = "https://evil.example/steal"


@pytest.fixture
async def idle_api(tmp_path: Path, database_url: str | None) -> AsyncIterator[Api]:
    """No workers (a job stays queued until the test moves it); webhooks may point at
    loopback."""
    settings = make_settings(
        tmp_path / "data",
        database_url=database_url,
        workers_cpu=0,
        workers_gpu=0,
        workers_io=0,
        workers_remote=0,
        net_allow_hosts="127.0.0.1",
    )
    async with open_api(settings) as opened:
        yield opened


def _is_page(response: Any) -> None:
    """A whole page of the dashboard's layout, naming the request by the id the response
    carries."""
    assert response.headers["content-type"].startswith("text/html"), response.text
    text = response.text
    assert text.lstrip().startswith("<!doctype html>") and '<main id="main"' in text
    assert "/static/dashboard/dashboard.css" in text
    assert response.headers["x-request-id"] in text
    assert "Content-Security-Policy" in response.headers


def _is_fragment(response: Any) -> None:
    assert response.headers["content-type"].startswith("text/html"), response.text
    text = response.text.strip()
    assert text.startswith('<div class="error-fragment"') and "<html" not in text
    assert response.headers["x-request-id"] in text


async def _generation(api: Api, key: str) -> str:
    response = await api.client.post(
        "/api/v1/generate/image", json={"prompt": "p", "model": "fake/image"}, headers=auth(key)
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_a_missing_object_is_an_html_page_on_the_dashboard_and_json_on_the_api(
    idle_api: Api,
) -> None:
    api = idle_api
    other = await api.account("b@example.com")
    theirs = await _generation(api, await api.key(other))
    mine = await make_user(api)
    key = await api.key(mine)
    csrf = await signed_in(api.client)

    page = await api.client.get(
        f"/dashboard/generations/{theirs}",
        headers={"Referer": "http://testserver/dashboard/generations?status=failed"},
    )
    assert page.status_code == 404
    _is_page(page)
    assert "404 · Not found" in page.text and f"No generation &#39;{theirs}&#39;" in page.text
    assert "<code>not_found</code>" in page.text
    assert 'aria-label="Dashboard"' in page.text and "a@example.com" in page.text  # signed in
    assert 'href="/dashboard/generations?status=failed"' in page.text  # the way back
    assert page.headers["x-dashboard-error"] == "not_found"

    # The API route of the same object keeps the envelope, exactly.
    api_answer = await api.client.get(f"/api/v1/generations/{theirs}", headers=auth(key))
    assert api_answer.status_code == 404
    assert api_answer.headers["content-type"] == "application/json"
    assert set(api_answer.json()) == {"error"}
    assert api_answer.json()["error"]["code"] == "not_found"
    assert api_answer.json()["error"]["request_id"] == api_answer.headers["x-request-id"]

    # Another account's webhook, an unknown page, a back link to another site ignored.
    webhook = await api.client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=auth(await api.key(other))
    )
    assert webhook.status_code == 201, webhook.text
    theirs_hook = webhook.json()["id"]
    for path in (f"/dashboard/webhooks/{theirs_hook}", "/dashboard/no-such-page"):
        response = await api.client.get(path, headers={"Referer": EVIL})
        assert response.status_code == 404, path
        _is_page(response)
        assert "evil.example" not in response.text
        assert 'href="/dashboard">← Back to the dashboard' in response.text
    for path in ("/dashboards", "/api/v1/no-such-route", "/v1/no-such-route"):
        assert (await api.client.get(path)).headers["content-type"] == "application/json"
    not_allowed = await api.client.post("/")
    assert not_allowed.status_code == 405
    _is_page(not_allowed)

    # A form without its CSRF token, and a form missing a field: pages, with the reason.
    keys_before = (await api.client.get("/api/v1/keys")).json()["data"]
    refused = await api.client.post("/dashboard/keys", data={"name": "k"})
    assert refused.status_code == 403
    _is_page(refused)
    assert "<code>csrf_failed</code>" in refused.text
    bad = await api.client.post("/dashboard/keys", data={"csrf_token": csrf})
    assert bad.status_code == 400
    _is_page(bad)
    assert "<code>name</code>" in bad.text  # the field named, as the envelope's details do
    assert (await api.client.get("/api/v1/keys")).json()["data"] == keys_before  # no change


async def test_htmx_gets_a_fragment_and_an_unexpected_error_a_page(
    idle_api: Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = idle_api
    other = await api.account("b@example.com")
    theirs = await _generation(api, await api.key(other))
    await make_user(api)
    csrf = await signed_in(api.client)

    polled = await api.client.get(f"{PLAYGROUND}/runs/{theirs}", headers=HTMX)
    assert polled.status_code == 404
    _is_fragment(polled)
    assert "hx-trigger" not in polled.text  # swapped in, it stops the polling
    assert polled.headers["x-dashboard-error"] == "not_found"  # dashboard.js swaps it in
    button = await api.client.post(
        f"/dashboard/generations/{theirs}/cancel", headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert button.status_code == 404
    _is_fragment(button)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a secret internal detail")

    monkeypatch.setattr(service, "overview", broken)
    crashed = await api.client.get("/dashboard")
    assert crashed.status_code == 500
    _is_page(crashed)
    assert "secret internal detail" not in crashed.text and "internal_error" in crashed.text
    crashed_htmx = await api.client.get("/dashboard", headers=HTMX)
    assert crashed_htmx.status_code == 500
    _is_fragment(crashed_htmx)


@pytest.mark.parametrize("ending", ["expired", "signed out"])
async def test_an_htmx_request_without_a_session_is_sent_to_sign_in_and_back(
    api: Api, ending: str
) -> None:
    account = await make_user(api)
    key = await api.key(account, sandbox=True)
    job = await _generation(api, key)
    await signed_in(api.client)
    async with api.platform.db.write() as session:
        if ending == "expired":
            past = utcnow() - timedelta(minutes=1)
            await session.execute(update(WebSession).values(expires_at=past))
        else:  # another tab signed out: its row is gone
            await session.execute(delete(WebSession))
    here = f"{PLAYGROUND}/fake/image"

    polled = await api.client.get(
        f"{PLAYGROUND}/runs/{job}",
        headers={**HTMX, "HX-Current-URL": f"http://testserver{here}?x=1"},
    )
    assert polled.status_code == 401 and polled.text == ""  # nothing swapped in
    target = urlsplit(polled.headers["hx-redirect"])
    assert target.path == "/dashboard/login"
    assert parse_qs(target.query) == {"next": [f"{here}?x=1"]}
    # No usable HX-Current-URL (another origin): the GET's own path; a POST's: home.
    foreign = {**HTMX, "HX-Current-URL": "https://evil.example/dashboard/keys"}
    got = await api.client.get("/dashboard/usage", headers=foreign)
    assert got.headers["hx-redirect"] == "/dashboard/login?next=%2Fdashboard%2Fusage"
    posted = await api.client.post(f"/dashboard/generations/{job}/cancel", headers=foreign)
    assert posted.headers["hx-redirect"] == "/dashboard/login?next=%2Fdashboard"
    # A plain request keeps the plain redirect.
    plain = await api.client.get(f"{PLAYGROUND}/runs/{job}")
    assert plain.status_code == 303 and plain.headers["location"] == "/dashboard/login"

    # Signing in from that link comes back to the page.
    login = await api.client.get(polled.headers["hx-redirect"])
    assert f'name="next" value="{here}?x=1"' in login.text
    form = {
        "email": "a@example.com",
        "password": PASSWORD,
        "csrf_token": csrf_of(login.text),
        "next": f"{here}?x=1",
    }
    back = await api.client.post("/dashboard/login", data=form)
    assert back.status_code == 303 and back.headers["location"] == f"{here}?x=1"
    assert (await api.client.get(f"{PLAYGROUND}/runs/{job}", headers=HTMX)).status_code == 200


OPEN_REDIRECTS = [
    EVIL,
    "//evil.example/dashboard",
    "/\\evil.example",
    "\\\\evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "/dashboard\r\nLocation: https://evil.example",
    "/api/v1/keys",
    "/dashboards",
    "dashboard",
    "/dashboard/../api/v1/keys",
    "/dashboard/%2e%2E/api/v1/keys",
]


async def test_sign_in_never_redirects_off_the_dashboard(api: Api) -> None:
    await make_user(api)
    for next_url in OPEN_REDIRECTS:
        login = await api.client.get("/dashboard/login", params={"next": next_url})
        assert login.status_code == 200 and 'name="next"' not in login.text, next_url
    # Signing in with them (6 of them: sign-ins are limited to 10 a minute per address).
    for next_url in OPEN_REDIRECTS[:6]:
        login = await api.client.get("/dashboard/login")
        form = {
            "email": "a@example.com",
            "password": PASSWORD,
            "csrf_token": csrf_of(login.text),
            "next": next_url,
        }
        response = await api.client.post("/dashboard/login", data=form)
        assert response.status_code == 303, next_url
        assert response.headers["location"] == "/dashboard", next_url
    # A refused sign-in keeps a good next in the form for the next try.
    login = await api.client.get("/dashboard/login", params={"next": "/dashboard/keys"})
    wrong = {
        "email": "a@example.com",
        "password": "not the password",
        "csrf_token": csrf_of(login.text),
        "next": "/dashboard/keys",
    }
    refused = await api.client.post("/dashboard/login", data=wrong)
    assert refused.status_code == 401 and 'name="next" value="/dashboard/keys"' in refused.text


def test_only_relative_dashboard_paths_are_next() -> None:
    for good in ("/dashboard", "/dashboard/keys", "/dashboard/generations?status=failed"):
        assert dashboard_path(good) == good
    for bad in [*OPEN_REDIRECTS, "", None, "/dashboard/" + "x" * 2000]:
        assert dashboard_path(bad) is None, bad


async def test_the_run_cards_cancel_refunds_the_job(idle_api: Api) -> None:
    api = idle_api
    account = await make_user(api, credits=100)
    live_key = await api.key(account)
    csrf = await signed_in(api.client)
    page = (await api.client.get(f"{PLAYGROUND}/fake/image")).text
    sent = {
        "csrf_token": csrf_of(page),
        "run_token": re.findall(r'name="run_token" value="([^"]+)"', page)[0],
        "mode": "live",
        "input.prompt": "a kite",
    }
    ran = await api.client.post(f"{PLAYGROUND}/fake/image", data=sent)
    assert ran.status_code == 200, ran.text
    found = re.search(r'id="run" hx-get="/dashboard/playground/runs/(gen_[0-9a-z]+)"', ran.text)
    assert found
    job = found[1]
    cancel = f"{PLAYGROUND}/runs/{job}/cancel"
    assert f'action="{cancel}"' in ran.text and f'hx-post="{cancel}"' in ran.text
    balance = (await api.client.get("/api/v1/account", headers=auth(live_key))).json()
    assert balance["credit_balance"] == 100 - IMAGE_CREDITS  # reserved while queued

    # Without the CSRF token: refused, still queued.
    refused = await api.client.post(cancel, headers=HTMX)
    assert refused.status_code == 403
    _is_fragment(refused)
    assert (await api.wait(live_key, job, until=lambda b: True))["status"] == "queued"

    card = await api.client.post(cancel, headers={**HTMX, "X-CSRF-Token": csrf})
    assert card.status_code == 200, card.text
    assert card.text.lstrip().startswith('<section class="card run" id="run">')  # final
    assert "status-cancelled" in card.text and f"{IMAGE_CREDITS} refunded" in card.text
    assert cancel not in card.text and "hx-trigger" not in card.text
    body = await api.wait(live_key, job, until=lambda b: True)
    assert body["status"] == "cancelled" and body["credits_refunded"] == IMAGE_CREDITS
    balance = (await api.client.get("/api/v1/account", headers=auth(live_key))).json()
    assert balance["credit_balance"] == 100

    # Again: the API's own 409, as a fragment; without htmx a plain form goes to History.
    again = await api.client.post(cancel, headers={**HTMX, "X-CSRF-Token": csrf})
    assert again.status_code == 409
    _is_fragment(again)
    queued = await _generation(api, live_key)
    plain = await api.client.post(f"{PLAYGROUND}/runs/{queued}/cancel", data={"csrf_token": csrf})
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/dashboard/generations/{queued}"
    assert (await api.wait(live_key, queued, until=lambda b: True))["status"] == "cancelled"
    # Another account's run: 404, untouched.
    other_key = await api.key(await api.account("b@example.com"))
    theirs = await _generation(api, other_key)
    hidden = await api.client.post(
        f"{PLAYGROUND}/runs/{theirs}/cancel", headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert hidden.status_code == 404
    assert (await api.wait(other_key, theirs, until=lambda b: True))["status"] == "queued"
