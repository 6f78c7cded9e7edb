"""Accessibility: axe-core finds no violation on any page a caller can see.

axe-core comes from the axe-playwright-python package (it ships axe.min.js);
it runs with its default rule set, which covers WCAG 2.0/2.1 A and AA and
axe's best practices, plus WCAG 2.2's minimum target size. Each page is
scanned in the state a caller sees it: with a time greyed out, times in a
second zone, an error message shown.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from caller import (
    LABELS,
    Caller,
    body_text,
    book,
    choose_slot,
    fill_details,
    keep_page_as_built,
    open_booking_page,
    submit,
)
from playwright.sync_api import Page, Route, expect
from served import Served

pytestmark = pytest.mark.browser

REPORTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "axe"


@cache
def _axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(page: Page, name: str) -> list[dict]:
    """Run axe-core on the page as it is now; its violations (also written to test-artifacts/)."""
    page.evaluate(_axe_source())
    # Default rules (WCAG 2.0/2.1 A and AA, best practices) plus WCAG 2.2's target size,
    # which axe leaves off by default: callers tap these times on phones.
    results = page.evaluate(
        """() => axe.run(document, {
            resultTypes: ['violations'],
            rules: {'target-size': {enabled: true}},
        })"""
    )
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{name}.json").write_text(
        json.dumps(
            {
                "url": page.url,
                "axe": results["testEngine"]["version"],
                "violations": results["violations"],
                "passes": len(results["passes"]),
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return results["violations"]


def report(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} - {v['helpUrl']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['failureSummary']}")
    return "\n".join(lines)


def assert_accessible(page: Page, name: str) -> None:
    violations = axe_violations(page, name)
    assert not violations, f"axe-core on {name} ({page.url}):\n{report(violations)}"


LAYOUTS = {
    "laptop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True},
}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_booking_page(site: Served, new_context, layout: str, javascript: bool) -> None:
    """The page as a visitor abroad sees it, both layouts, with and without the script:
    their own time on every slot (with JS), a time picked and all days opened."""
    page = new_context(site, timezone_id="America/New_York", **LAYOUTS[layout]).new_page()
    if not javascript:
        # The page as it is without its script. axe itself runs as a script (a page with
        # JavaScript switched off never finishes axe.run), so the page's own inline
        # script is taken out instead: what remains is what a browser without it shows.
        def without_script(route: Route) -> None:
            answer = route.fetch()
            html = re.sub(r"<script>.*?</script>", "", answer.text(), flags=re.S)
            route.fulfill(response=answer, body=html)

        page.route(f"{site.url}/", without_script)
    open_booking_page(page, site, javascript=javascript)
    if not javascript:
        assert page.locator("script").count() == 0
    if javascript:
        expect(page.locator("label .owner-time").first).to_be_visible()
    page.locator("details.more > summary").click()
    page.locator(".slots label").first.click()
    if javascript:
        expect(page.locator("#picked")).not_to_be_empty()
    assert_accessible(page, f"booking-{site.language}-{layout}-{'js' if javascript else 'nojs'}")


def test_thanks_taken_and_error_pages(site: Served, new_context) -> None:
    """Thanks, the page with a greyed-out time, "just taken" (409), a refused form (400)."""
    lang = site.language
    slot = site.claim_slot()
    slower = new_context(site).new_page()
    open_booking_page(slower, site)
    built_before = slower.request.get(f"{site.url}/")

    page = new_context(site).new_page()
    assert book(page, site, slot, Caller(topic="Barrierefreiheit")).status == 200
    assert_accessible(page, f"thanks-{lang}")

    # The cancel link on the thanks page leads to a confirmation page.
    page.get_by_role("link", name="absagen" if lang == "de" else "cancel").click()
    page.wait_for_load_state()
    assert_accessible(page, f"cancel-confirm-{lang}")

    keep_page_as_built(page, site, built_before)  # as a static host serves it until a build
    open_booking_page(page, site)
    expect(page.locator(f'input[name="slot"][value="{slot.token}"]')).to_be_disabled()
    assert_accessible(page, f"booking-with-taken-{lang}")

    choose_slot(slower, slot)
    fill_details(slower, site, Caller(name="Zweite Person"))
    assert submit(slower, site).status == 409
    assert_accessible(slower, f"just-taken-409-{lang}")

    # The browser checks required fields; a form sent without that check (an old
    # browser, a script) gets the handler's own answer: 400 with what to fix.
    open_booking_page(slower, site)
    choose_slot(slower, site.claim_slot())
    fill_details(slower, site, Caller(topic=""))
    slower.evaluate("() => { document.getElementById('booking').noValidate = true; }")
    assert submit(slower, site).status == 400
    assert LABELS[lang]["invalid"] in body_text(slower)
    assert_accessible(slower, f"invalid-400-{lang}")


def test_static_answer_pages(site_de: Served, new_context) -> None:
    """thanks.html and error.html from the build, and the handler's 404."""
    page = new_context(site_de).new_page()
    for path, name in (("/thanks.html", "thanks-static"), ("/error.html", "error-static")):
        assert page.goto(site_de.url + path).status == 200
        assert_accessible(page, name)
    assert page.goto(site_de.url + "/api/nothing-here").status == 404
    assert_accessible(page, "not-found-404")


def test_the_scan_finds_what_it_should(site_de: Served, new_context) -> None:
    """A control: the same scan flags a field without a label and text without contrast."""
    page = new_context(site_de).new_page()
    page.goto(site_de.url + "/thanks.html")
    page.evaluate(
        """() => {
            const main = document.querySelector('main');
            main.insertAdjacentHTML('beforeend', '<input type="text" name="x"><p>faint</p>');
            // Through the CSSOM: the page's CSP ignores style attributes.
            Object.assign(main.lastElementChild.style, {color: '#ccc', background: '#fff'});
        }"""
    )
    found = {v["id"] for v in axe_violations(page, "control")}
    assert {"label", "color-contrast"} <= found
