"""The page in every language, in a real browser: one site built with all of them
(site.languages), each page booked through from its own language and scanned with axe.

The words a caller looks for come from the catalogs themselves, so the journey
reads each page as a person speaking that language would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from caller import choose_slot
from playwright.sync_api import expect
from served import ROOT, Served, serve_site
from test_a11y import assert_accessible

from generator.i18n import LANGUAGES, babel_locale, translations

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site_all(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The example site built in every language callslot speaks, German at the root."""
    yield from serve_site(tmp_path_factory.mktemp("site-all"), "de", languages=LANGUAGES)


def _words(language: str):  # type: ignore[no-untyped-def]
    return translations(language, [ROOT / "themes" / "default"]).gettext


@pytest.mark.parametrize("language", LANGUAGES)
def test_book_a_call_from_the_page_in_each_language(
    site_all: Served, new_context, language: str
) -> None:
    _ = _words(language)
    folder = "" if language == LANGUAGES[0] else f"{language}/"
    page = new_context(site_all, locale=babel_locale(language).replace("_", "-")).new_page()
    with page.expect_response(lambda r: "/api/taken" in r.url):
        page.goto(f"{site_all.url}/{folder}")
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator(f'nav.languages a[lang="{language}"]')).to_have_attribute(
        "aria-current", "page"
    )
    assert_accessible(page, f"languages-{language}-page")

    slot = site_all.claim_slot(on=page)  # a time this page still offers
    choose_slot(page, slot)  # a later day sits behind "More days"
    page.get_by_label(
        re.compile("^" + re.escape(_("What is it about? A keyword is enough.")))
    ).fill("ABC-123")
    page.get_by_label(re.compile("^" + re.escape(_("Your name")))).fill("Jan Nowak")
    page.get_by_label(re.compile("^" + re.escape(_("Phone number")))).fill("+48 22 1234567")
    with page.expect_navigation():
        page.get_by_role("button", name=_("Book this call")).click()
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_role("heading", level=1)).to_have_text(_("Your call is booked"))
    # Back to the open times leads to the page in the same language.
    back = page.get_by_role("link", name=_("Back to the open times"))
    expect(back).to_have_attribute("href", f"/{folder}")
    assert_accessible(page, f"languages-{language}-booked")
