"""The Swagger UI at /docs, driven by a real headless Chromium through Playwright."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import (
        BrowserContext,
        ConsoleMessage,
        Locator,
        Page,
        Request,
    )

# Debian's build, put there by scripts/system-deps. Playwright's own browsers are
# never used: `playwright install` downloads them, which these machines cannot do.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous for a loaded CI machine; a wait returns as soon as its condition holds.
WAIT_MS = 15_000
RUNS = "/api/v1/runs"


@dataclass
class DocsPage:
    """The docs page open in a browser tab, and what the tab did while loading it."""

    page: Page
    requests: list[str] = field(default_factory=list)
    """URLs of the requests the tab made, as the page saw them."""
    context_requests: list[str] = field(default_factory=list)
    """URLs of the requests the browser context saw meanwhile, workers included."""
    errors: list[str] = field(default_factory=list)
    """Uncaught exceptions and console errors of the page."""


def _missing_browser() -> str | None:
    """Return what keeps these tests from driving a browser here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return (
            f"The docs page tests need the Python package playwright ({exc}); "
            "install the test extra with `pip install -e '.[test]'`."
        )
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"The docs page tests need Chromium at {CHROMIUM}; install it with "
            "`scripts/system-deps` or `apt-get install chromium`."
        )
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Launch one headless Chromium for the module, with a fresh, empty profile."""
    missing = _missing_browser()
    if missing is not None:
        # CI runs `make test`, which installs the test extra and runs
        # scripts/system-deps first, so there a missing browser is a broken setup
        # to fix, not a machine to skip on.
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield context
        finally:
            context.close()


@contextlib.contextmanager
def _open_docs(browser: BrowserContext, url: str) -> Iterator[DocsPage]:
    """Open ``/docs`` in a new tab and return once Swagger UI shows the operations."""
    from playwright.sync_api import expect

    page = browser.new_page()
    opened = DocsPage(page)

    def on_context_request(request: Request) -> None:
        opened.context_requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(f"console: {message.text}")

    browser.on("request", on_context_request)
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
    page.on("console", on_console)
    try:
        page.goto(f"{url}/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=WAIT_MS)
        yield opened
    finally:
        browser.remove_listener("request", on_context_request)
        page.close()


@pytest.fixture(scope="module")
def docs(browser: BrowserContext, daemon: Any) -> Iterator[DocsPage]:
    """The docs page, opened once for the tests that only look at it."""
    with _open_docs(browser, daemon.url) as opened:
        yield opened


@pytest.fixture
def own_docs(browser: BrowserContext, daemon: Any) -> Iterator[DocsPage]:
    """The docs page in a tab of the test's own, for a test that changes its state."""
    with _open_docs(browser, daemon.url) as opened:
        yield opened


def _operation(page: Page, method: str, path: str) -> Locator:
    """Return Swagger UI's block for one operation, found by method and path.

    The method and path are what a reader sees; the block's id is built from an
    operation id that flask-openapi3 derives from the endpoint's name.
    """
    return page.locator(f".opblock.opblock-{method}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
    )


def _authorize(page: Page, secret: str) -> None:
    """Enter a bearer token in Swagger UI's "Authorize" dialog and close it."""
    from playwright.sync_api import expect

    page.locator(".auth-wrapper .btn.authorize").click()
    dialog = page.locator(".modal-ux")
    dialog.locator("#auth-bearer-value").fill(secret)
    dialog.locator(".auth-btn-wrapper .btn.authorize").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()

    dialog.locator(".auth-btn-wrapper .btn-done").click()
    expect(dialog).to_be_hidden()


def test_docs_lists_run_operations(docs: DocsPage, daemon: Any) -> None:
    from playwright.sync_api import expect

    page = docs.page
    assert page.url.startswith(f"{daemon.url}/"), page.url
    expect(page.locator(".info .title")).to_contain_text("UniFlow API")
    for method, path in [
        ("post", RUNS),
        ("get", RUNS),
        ("get", f"{RUNS}/{{run_id}}"),
    ]:
        expect(_operation(page, method, path)).to_be_visible()
    assert docs.errors == []


def test_docs_load_only_from_daemon(docs: DocsPage, daemon: Any) -> None:
    # Anything the page fetches late (fonts, images, a validator badge) must be
    # recorded before the hosts are compared.
    docs.page.wait_for_load_state("networkidle")

    for seen in (docs.requests, docs.context_requests):
        assert {urlsplit(url).hostname for url in seen} == {"127.0.0.1"}, seen
        assert {urlsplit(url).port for url in seen} == {urlsplit(daemon.url).port}
    paths = [urlsplit(url).path for url in docs.requests]
    assert len(paths) >= 5, paths
    assert any(path.endswith(".js") for path in paths), paths
    assert any(path.endswith(".css") for path in paths), paths
    assert any(path.endswith("/openapi.json") for path in paths), paths
    # Swagger UI sends the spec's address to swagger.io's validator whenever the
    # host is not localhost; the daemon turns that off for every host.
    assert docs.page.evaluate("window.ui.getConfigs().validatorUrl") is None


def test_try_it_out_triggers_a_run(own_docs: DocsPage, daemon: Any) -> None:
    from playwright.sync_api import expect

    page = own_docs.page
    # A token of its own: the daemon limits triggers per token and minute, and the
    # session's shared operator token may have spent its share in other tests.
    secret = daemon.token("operator")
    body = {
        "pipeline_name": "hello",
        "project": "testproj",
        "parameters": {"name": "swagger"},
    }
    _authorize(page, secret)
    trigger = _operation(page, "post", RUNS)
    trigger.locator(".opblock-summary-control").click()
    trigger.locator(".try-out__btn").click()
    trigger.locator("textarea.body-param__text").fill(json.dumps(body))

    with page.expect_response(
        lambda answer: (
            answer.request.method == "POST" and urlsplit(answer.url).path == RUNS
        ),
        timeout=WAIT_MS,
    ) as answered:
        trigger.locator(".btn.execute").click()

    shown = trigger.locator(".live-responses-table .response")
    expect(shown.locator(".response-col_status")).to_have_text("201")
    run_id = answered.value.json()["run_id"]
    expect(shown.locator(".response-col_description")).to_contain_text(run_id)
    sent = answered.value.request.headers
    assert sent["authorization"] == f"Bearer {secret}"

    with daemon.client() as client:
        run = client.get_run(run_id)
        assert run["pipeline_name"] == "hello"
        assert run["project"] == "testproj"
        assert run["parameters"]["name"] == "swagger"
        # Let the run finish here, so it takes no slot from the tests after this one.
        client.wait_for_run(run_id, timeout=60, interval=0.05)
    assert own_docs.errors == []
