"""What a caller does on the booking page, step by step, as Playwright actions.

Fields are found by their visible labels (as a person and a screen reader
find them), slots by clicking their label, never by poking hidden inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.sync_api import APIResponse, Page, Response
from served import OfferedSlot, Served

# The labels the page shows, in each language (German and English catalogs).
LABELS = {
    "de": {
        "topic": re.compile(r"^Worum geht es\?"),
        "name": re.compile(r"^Ihr Name"),
        "phone": re.compile(r"^Telefonnummer"),
        "submit": "Termin buchen",
        "booked": "Ihr Telefonat ist gebucht",
        "taken": "vergeben",
        "just_taken": "Dieser Termin wurde gerade vergeben",
        "invalid": "Bitte prüfen Sie Ihre Angaben",
        "back": "Zurück zu den freien Terminen",
    },
    "en": {
        "topic": re.compile(r"^What is it about\?"),
        "name": re.compile(r"^Your name"),
        "phone": re.compile(r"^Phone number"),
        "submit": "Book this call",
        "booked": "Your call is booked",
        "taken": "taken",
        "just_taken": "This time was just booked",
        "invalid": "Please check your details",
        "back": "Back to the open times",
    },
}


@dataclass(frozen=True)
class Caller:
    name: str = "Erika Mustermann"
    phone: str = "+49 170 1234567"
    topic: str = "Vertrag Müller"


def open_booking_page(page: Page, site: Served, *, javascript: bool = True) -> None:
    """Open the first booking page; with JavaScript, wait until it asked for taken slots."""
    if javascript:
        with page.expect_response(lambda r: "/api/taken" in r.url):
            page.goto(f"{site.url}/")
        # The script greys out taken slots right after that answer; give it its turn.
        page.evaluate("() => new Promise(r => setTimeout(r, 0))")
    else:
        page.goto(f"{site.url}/")


def keep_page_as_built(page: Page, site: Served, built: APIResponse) -> None:
    """Serve the booking page as it was fetched earlier, as a static host does until
    its next build (`callslot serve` rebuilds at once after a booking)."""
    body, headers = built.body(), built.headers
    page.route(f"{site.url}/", lambda route: route.fulfill(status=200, headers=headers, body=body))


def slot_radio(page: Page, slot: OfferedSlot):  # type: ignore[no-untyped-def]
    return page.locator(f'input[name="slot"][value="{slot.token}"]')


def choose_slot(page: Page, slot: OfferedSlot) -> None:
    """Click the slot's time, as a person does; a later day first needs "More days" opened."""
    label = page.locator(f'label[for="{slot.id}"]')
    if not label.is_visible():
        page.locator("details.more > summary").click()
    label.click()


def fill_details(page: Page, site: Served, caller: Caller) -> None:
    labels = LABELS[site.language]
    page.get_by_label(labels["topic"]).fill(caller.topic)
    page.get_by_label(labels["name"]).fill(caller.name)
    page.get_by_label(labels["phone"]).fill(caller.phone)


def submit(page: Page, site: Served) -> Response:
    """Press the booking button; the answer of the navigation it causes."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=LABELS[site.language]["submit"]).click()
    response = navigation.value
    assert response is not None
    return response


def book(
    page: Page,
    site: Served,
    slot: OfferedSlot,
    caller: Caller | None = None,
    *,
    javascript: bool = True,
) -> Response:
    """The whole journey: open, choose, fill in, send. Returns the final answer."""
    open_booking_page(page, site, javascript=javascript)
    choose_slot(page, slot)
    fill_details(page, site, caller or Caller())
    return submit(page, site)


def body_text(page: Page) -> str:
    return " ".join(page.locator("body").inner_text().split())
