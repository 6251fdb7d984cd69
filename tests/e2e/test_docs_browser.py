"""/docs and /redoc in a real browser: Debian's headless Chromium, driven by Playwright, against a
real ``mediastudio serve``. The operations render (Swagger UI and ReDoc read the OpenAPI 3.1
document), "Try it out" of a create with a sandbox key answers 202 and makes the job, and the
pages reach no host but this server.

Chromium comes from ``make browser`` (``make test`` runs it; it needs root). Without it the tests
skip on a developer's machine and fail under CI. ``UPDATE_DOCS_SCREENSHOT=1`` also writes the
screenshot of /docs to docs/images/docs.png (docs/api.md shows it).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request

from tests.e2e.server import REPO_ROOT, ServerProcess, auth

pytestmark = pytest.mark.e2e

UI_TIMEOUT_MS = 60_000  # a loaded 2-core machine parses 1.5 MB of Swagger UI slowly
SCREENSHOT = REPO_ROOT / "docs" / "images" / "docs.png"
EMAIL = "docs@example.com"
GENERATION_ID = re.compile(r'"id":\s*"(gen_[0-9a-z]{26})"')


@pytest.fixture(scope="module")
def docs_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    """One server for the module (starting one is most of these tests' time), with only the
    sandbox engine, and a sandbox key made while it starts. Its log is printed if a test
    failed."""
    server = ServerProcess(tmp_path_factory.mktemp("docs"))
    failed_before = request.session.testsfailed
    try:
        server.create_account(EMAIL, credits=0)
        server.start({"MEDIASTUDIO_ENGINE_MODULES": None}, wait=False)
        key = server.create_key(EMAIL, test=True)[1]
        server.wait_ready()
        yield server, key
    finally:
        server.stop()
        if request.session.testsfailed != failed_before:
            print(server.logs())


class Traffic:
    """Every request a page makes, to check that none left for another host."""

    def __init__(self, page: Page, origin: str) -> None:
        self.origin = origin
        self.finished: list[str] = []
        self.failed: list[tuple[str, str | None]] = []
        page.on("requestfinished", lambda request: self.finished.append(request.url))
        page.on("requestfailed", self._failed)

    def _failed(self, request: Request) -> None:
        self.failed.append((request.url, request.failure))

    def _foreign(self, url: str) -> bool:
        return not (url.startswith((self.origin + "/", "data:", "blob:")) or url == self.origin)

    def assert_local(self) -> None:
        """What reached a server reached ours; anything else the browser refused before
        connecting (the pages' Content-Security-Policy: ReDoc's logo)."""
        assert self.finished, "the page loaded nothing"
        assert [url for url in self.finished if self._foreign(url)] == []
        assert [(u, why) for u, why in self.failed if self._foreign(u) and why != "csp"] == []


def operation_count(server: ServerProcess) -> int:
    spec: dict[str, Any] = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    assert spec["openapi"].startswith("3.1")
    return sum(len(operations) for operations in spec["paths"].values())


def open_page(browser: Browser, server: ServerProcess, path: str) -> tuple[Page, Traffic]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(UI_TIMEOUT_MS)
    traffic = Traffic(page, server.base_url)
    page.goto(server.base_url + path)
    return page, traffic


def authorize(page: Page, key: str) -> None:
    page.locator(".auth-wrapper button.authorize").click()
    page.locator(".modal-ux input#auth-bearer-value").fill(key)
    # The bearer scheme's form: the dashboard's session cookie is a second scheme in the modal.
    bearer = page.locator(".modal-ux form").filter(has=page.locator("input#auth-bearer-value"))
    bearer.locator("button.authorize").click()
    page.locator(".modal-ux button.btn-done").first.click()  # either closes the modal


def try_it_out(page: Page, path: str) -> tuple[str, str]:
    """Expand POST ``path``, send its example body as it is; the status and body shown."""
    operation = page.locator(".opblock-post", has=page.locator(f'[data-path="{path}"]'))
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    row = operation.locator(".live-responses-table tbody .response")
    row.wait_for()
    status = row.locator(".response-col_status").inner_text().strip()
    return status, row.locator(".response-col_description").inner_text()


def test_swagger_ui_renders_and_try_it_out_creates_a_job(
    browser: Browser, docs_server: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, sandbox_key = docs_server
    page, traffic = open_page(browser, server, "/docs")
    page.locator(".opblock").first.wait_for()
    assert "Unable to render" not in page.content()
    assert page.locator(".opblock").count() == operation_count(server)
    assert page.locator(".info .version-stamp").inner_text().strip() == "OAS 3.1"
    shot = page.screenshot(path=tmp_path / "docs.png")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "docs.png", SCREENSHOT)
    assert shot.startswith(b"\x89PNG")

    authorize(page, sandbox_key)
    status, body = try_it_out(page, "/api/v1/generate/image")
    assert status == "202", body
    found = GENERATION_ID.search(body)
    assert found, body
    job = httpx.get(
        f"{server.base_url}/api/v1/generations/{found[1]}", headers=auth(sandbox_key), timeout=30
    )
    assert job.status_code == 200, job.text
    assert (job.json()["type"], job.json()["sandbox"]) == ("image", True)
    assert job.json()["prompt"] == "a red bicycle on a beach at sunset"  # the example's
    traffic.assert_local()


def test_redoc_renders_every_operation(
    browser: Browser, docs_server: tuple[ServerProcess, str]
) -> None:
    server = docs_server[0]
    page, traffic = open_page(browser, server, "/redoc")
    operations = page.locator('[data-section-id^="operation/"]')
    operations.first.wait_for()
    assert operations.count() == operation_count(server)
    assert page.get_by_role("heading", name="Generate images").count() == 1
    traffic.assert_local()
