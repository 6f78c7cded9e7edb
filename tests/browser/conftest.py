"""Browser fixtures: one Chromium per test session (per xdist worker), a live `callslot serve`.

Without /usr/bin/chromium the tests skip locally and fail in CI (CI=true).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, expect, sync_playwright
from served import ROOT, Served, serve_site

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = Path(os.environ.get("CALLSLOT_CHROMIUM", "/usr/bin/chromium"))
# Debian's Chromium: Playwright's own browser download is not available here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# CI shares 2 cores among the test workers: give assertions the same patience as actions.
expect.set_options(timeout=10_000)
LOCALES = {"de": "de-DE", "en": "en-GB"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder drives Chromium: mark it, so `-m browser` selects them all."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


def _real_clock_env() -> dict[str, str]:
    """The environment for Chromium: without libfaketime, which the suite may run under
    (README: the suite on another day). Chromium does not load pages with it; the site
    it visits (`callslot serve`) still runs on the moved clock, which is the one that
    decides what is offered and booked."""
    return {
        name: value
        for name, value in os.environ.items()
        if name != "LD_PRELOAD" and not name.startswith(("FAKETIME", "DONT_FAKE"))
    }


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright; one per test session."""
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}; install Debian's chromium package"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=_real_clock_env()
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def site_de(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The German example site, served by `callslot serve` for this test session."""
    yield from serve_site(tmp_path_factory.mktemp("site-de"), "de")


@pytest.fixture(scope="session")
def site_en(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The same owner's site in English."""
    yield from serve_site(tmp_path_factory.mktemp("site-en"), "en")


@pytest.fixture(params=["de", "en"])
def site(request: pytest.FixtureRequest) -> Served:
    """The German site, then the English one."""
    return request.getfixturevalue(f"site_{request.param}")


@pytest.fixture
def new_context(browser: Browser) -> Iterator:
    """Make browser contexts (a fresh profile each: cookies, storage); all closed afterwards.

    Defaults: the site's locale, a visitor in the owner's time zone, a desktop window.
    A script error or a blocked script (Content-Security-Policy) on any page fails the test.
    """
    made: list[BrowserContext] = []
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # Chromium also logs every 4xx answer; the 409 and 400 pages are meant to be.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"{message.page.url if message.page else ''}: {message.text}")

    def make(site: Served, **options: object) -> BrowserContext:
        options = {
            "locale": LOCALES[site.language],
            "timezone_id": "Europe/Berlin",
            "viewport": {"width": 1280, "height": 900},
            **options,
        }
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.on("console", console)
        context.on("weberror", lambda error: problems.append(str(error.error)))
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not problems, "errors in the browser console:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """test-artifacts/screenshots/ at the repository root (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
