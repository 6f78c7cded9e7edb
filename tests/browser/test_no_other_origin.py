"""No request from any page goes to another origin: fonts, scripts, images, analytics.

A caller's visit is seen by the owner's server alone. The browser records
every request of a whole visit (every built page, a booking with and without
JavaScript, the booking page with its cancel link, the cancel itself, a
refused form) and none may leave the site's origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from caller import LABELS, Caller, body_text, book
from playwright.sync_api import BrowserContext, Request, expect
from served import Served

pytestmark = pytest.mark.browser

# Not network requests: inline images, script-made objects, blank frames.
_LOCAL_SCHEMES = ("data", "blob", "about")
CANCEL = {"de": "Dieses Telefonat absagen", "en": "Cancel this call"}
CONFIRM = {"de": "Ja, Telefonat absagen", "en": "Yes, cancel the call"}


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _recording(context: BrowserContext) -> list[Request]:
    """Every request any page, frame or worker of ``context`` makes from now on."""
    seen: list[Request] = []
    context.on("request", lambda request: seen.append(request))
    return seen


def _foreign(site: Served, requests: list[Request]) -> list[str]:
    return [
        f"{r.resource_type} {r.url}"
        for r in requests
        if urlsplit(r.url).scheme not in _LOCAL_SCHEMES and _origin(r.url) != _origin(site.url)
    ]


def test_a_whole_visit_with_javascript_stays_on_the_sites_origin(
    site: Served, new_context
) -> None:
    context = new_context(site)
    requests = _recording(context)
    page = context.new_page()

    # Every page the build wrote: booking pages, thanks, answer and legal pages.
    built = sorted((site.root / "public").rglob("*.html"))
    assert len(built) >= 3
    for html in built:
        path = html.relative_to(site.root / "public").as_posix()
        page.goto(f"{site.url}/{path}", wait_until="load")
        page.wait_for_load_state("networkidle")

    # A booking, its booking page (with the cancel link), and the cancel.
    response = book(page, site, site.claim_slot(), Caller(topic="Ursprung"))
    assert response.status == 200, body_text(page)
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name=CANCEL[site.language]).click()
    page.get_by_role("button", name=CONFIRM[site.language]).click()
    page.wait_for_load_state("networkidle")

    # A refused form: nothing filled in.
    page.goto(f"{site.url}/", wait_until="load")
    page.get_by_role("button", name=LABELS[site.language]["submit"]).click()
    page.wait_for_load_state("networkidle")

    assert len(requests) > len(built) + 4  # the recorder saw the visit
    assert _foreign(site, requests) == []


def test_a_booking_without_javascript_stays_on_the_sites_origin(
    site_de: Served, new_context
) -> None:
    context = new_context(site_de, java_script_enabled=False)
    requests = _recording(context)
    page = context.new_page()
    response = book(page, site_de, site_de.claim_slot(), Caller(topic="Ohne Skript"),
                    javascript=False)
    assert response.status == 200, body_text(page)
    page.wait_for_load_state("networkidle")
    assert _foreign(site_de, requests) == []


def test_the_recorder_sees_a_request_to_another_origin(site_de: Served, new_context) -> None:
    """The control: a stylesheet on another host would be caught (the page's own
    Content-Security-Policy would block it too; here it is bypassed to see the request)."""
    context = new_context(site_de, bypass_csp=True)
    requests = _recording(context)
    page = context.new_page()
    # Nothing listens there; the request is made (and fails) all the same.
    page.route("http://127.0.0.2:9/**", lambda route: route.abort())
    page.goto(f"{site_de.url}/", wait_until="load")
    page.evaluate("""() => {
        const link = document.createElement('link');
        link.rel = 'stylesheet';
        link.href = 'http://127.0.0.2:9/fonts.css';
        document.head.append(link);
    }""")
    expect(page.locator('link[href="http://127.0.0.2:9/fonts.css"]')).to_have_count(1)
    page.wait_for_load_state("networkidle")
    assert _foreign(site_de, requests) == ["stylesheet http://127.0.0.2:9/fonts.css"]
