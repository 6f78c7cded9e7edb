"""The whole journey of issue 13's "done when": a caller in Berlin and one in New York, on a
phone and on a laptop, in German and English, with and without JavaScript, picks a time
in their own clock, sees what they picked, books, adds it to their calendar, and on a
409 books the next free time in one click. Screenshots of each state go to
test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
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
from playwright.sync_api import Page, expect
from served import OWNER_TZ, Served

pytestmark = pytest.mark.browser

DEVICES = {
    "laptop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True},
}
ZONES = {"berlin": "Europe/Berlin", "newyork": "America/New_York"}
# How the booked page names each zone, per page language.
ZONE_NAMES = {
    "de": {
        "Europe/Berlin": "Mitteleuropäische Zeit",
        "America/New_York": "Nordamerikanische Ostküstenzeit",
    },
    "en": {"Europe/Berlin": "Central European Time", "America/New_York": "Eastern Time"},
}
WORDS = {
    "de": {"pick": "Ihre Wahl: ", "next": "Weiter: Ihre Angaben", "ics": "Kalenderdatei (.ics)",
           "google": "Google Kalender", "outlook": "Outlook.com",
           "rebook": "Einen anderen Termin mit Ihren Angaben buchen"},
    "en": {"pick": "Your pick: ", "next": "Next: your details", "ics": "Calendar file (.ics)",
           "google": "Google Calendar", "outlook": "Outlook.com",
           "rebook": "Book another time with your details"},
}


def _clock(moment: datetime) -> re.Pattern[str]:
    """A wall-clock time as the page's clocks write it: 9:00, or 9:00 AM in a 12-hour clock."""
    hour12 = moment.hour % 12 or 12
    return re.compile(rf"\b({moment.hour}|{hour12}):{moment.minute:02d}\b")


def _shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("zone", sorted(ZONES))
@pytest.mark.parametrize("device", sorted(DEVICES))
def test_pick_in_your_own_clock_book_and_add_to_calendar(
    site: Served, new_context, screenshot_dir: Path, device: str, zone: str, javascript: bool
) -> None:
    lang, tz = site.language, ZoneInfo(ZONES[zone])
    slot = site.claim_slot()
    context = new_context(
        site, timezone_id=ZONES[zone], java_script_enabled=javascript, **DEVICES[device]
    )
    page = context.new_page()
    open_booking_page(page, site, javascript=javascript)
    name = f"journey-{lang}-{device}-{zone}-{'js' if javascript else 'nojs'}"
    if device == "laptop":
        # At 1280x800 the first times and the topic field show without scrolling.
        expect(page.locator(".slots label").first).to_be_in_viewport()
        expect(page.get_by_label(LABELS[lang]["topic"])).to_be_in_viewport()
    if javascript and device == "laptop":
        _shot(page, screenshot_dir, f"{name}-1-open")

    label = page.locator(f'label[for="{slot.id}"]')
    abroad = javascript and zone == "newyork"
    choose_slot(page, slot)
    # Their own clock: the visitor's time is the label; without the script the owner's,
    # with the zone named above the times.
    own = slot.start.astimezone(tz if abroad else OWNER_TZ)
    assert _clock(own).search(label.inner_text().split("\n")[0]), label.inner_text()
    if abroad:
        expect(label.locator(".owner-time")).to_have_text(slot.time_pattern)
    else:
        expect(page.locator("#zone-hint")).to_contain_text(ZONE_NAMES[lang]["Europe/Berlin"])

    if javascript:
        # What they picked, next to the button, in their clock.
        picked = page.locator("#picked")
        expect(picked).to_contain_text(WORDS[lang]["pick"])
        assert _clock(own).search(picked.inner_text()), picked.inner_text()
        if device == "phone":
            # A tap on a time moved the caller on to the form, and the focus with them.
            expect(page.locator("#h-details")).to_be_focused()
            expect(page.locator("#h-details")).to_be_in_viewport()
    elif device == "phone":
        # Without the script a plain link, pinned to the bottom once a time is picked.
        link = page.get_by_role("link", name=WORDS[lang]["next"])
        expect(link).to_be_in_viewport()
        link.click()
        expect(page).to_have_url(re.compile("#details$"))
        expect(page.locator("#h-details")).to_be_in_viewport()
    if device == "laptop":
        # Two columns: the form stays beside the times, the topic field in view.
        expect(page.get_by_label(LABELS[lang]["topic"])).to_be_in_viewport()
    _shot(page, screenshot_dir, f"{name}-2-picked")

    caller = Caller(topic=f"Journey {device} {zone}")
    fill_details(page, site, caller)
    answer = submit(page, site)
    assert answer.status == 200, body_text(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(LABELS[lang]["booked"])
    # The booked page speaks the caller's clock: their zone first when the script sent it.
    when = page.locator("dd").first.inner_text()
    shown = ZONES[zone] if abroad else "Europe/Berlin"
    assert ZONE_NAMES[lang][shown] in when, when
    assert _clock(slot.start.astimezone(ZoneInfo(shown))).search(when), when
    _shot(page, screenshot_dir, f"{name}-3-booked")

    # Add to calendar: the file by the booking's secret token, Google and Outlook links.
    ics_link = page.get_by_role("link", name=WORDS[lang]["ics"])
    href = ics_link.get_attribute("href") or ""
    assert href.startswith("/api/booking.ics?token=")
    download = page.request.get(f"{site.url}{href}")
    assert download.status == 200
    assert download.headers["content-type"].startswith("text/calendar")
    event = icalendar.Calendar.from_ical(download.body()).walk("VEVENT")[0]
    assert event.decoded("dtstart") == slot.start and event.decoded("dtend") == slot.end
    assert caller.topic in str(event["summary"])
    google = page.get_by_role("link", name=WORDS[lang]["google"]).get_attribute("href") or ""
    assert google.startswith("https://calendar.google.com/")
    if javascript:
        assert f"ctz={ZONES[zone].replace('/', '%2F')}" in google
    outlook = page.get_by_role("link", name=WORDS[lang]["outlook"]).get_attribute("href") or ""
    assert outlook.startswith("https://outlook.live.com/")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_after_a_409_the_next_free_time_books_in_one_click(
    site: Served, new_context, screenshot_dir: Path, javascript: bool
) -> None:
    lang = site.language
    slot = site.claim_slot()
    slower = new_context(
        site, timezone_id="America/New_York", java_script_enabled=javascript
    ).new_page()
    built = slower.request.get(f"{site.url}/")
    # The first caller books the time.
    quicker = new_context(site).new_page()
    open_booking_page(quicker, site)
    choose_slot(quicker, slot)
    fill_details(quicker, site, Caller(name="Erika Erste", phone="+49 30 1111111", topic="Erst"))
    assert submit(quicker, site).status == 200

    # The slower caller still has the page from before (a static host until its rebuild),
    # and their script's look at the taken times came before the other booking.
    keep_page_as_built(slower, site, built)
    slower.route("**/api/taken", lambda route: route.fulfill(json={"taken": []}))
    open_booking_page(slower, site, javascript=javascript)
    choose_slot(slower, slot)
    mine = Caller(name="Max Zweiter", phone="+1 212 555 0100", topic="Zweiter Versuch")
    fill_details(slower, site, mine)
    answer = submit(slower, site)
    assert answer.status == 409
    expect(slower.get_by_role("heading", level=1)).to_have_text(LABELS[lang]["just_taken"])
    expect(slower.get_by_role("heading", level=2)).to_have_text(WORDS[lang]["rebook"])
    text = body_text(slower)
    assert "Erika Erste" not in text and "1111111" not in slower.content()
    choices = slower.locator(".rebook button")
    expect(choices).to_have_count(3)
    _shot(slower, screenshot_dir, f"rebook-{lang}-{'js' if javascript else 'nojs'}-1-409")

    first_choice = choices.first.inner_text()
    with slower.expect_navigation() as navigation:
        choices.first.click()
    assert navigation.value is not None and navigation.value.status == 200, body_text(slower)
    expect(slower.get_by_role("heading", level=1)).to_have_text(LABELS[lang]["booked"])
    booked = body_text(slower)
    assert mine.topic in booked and mine.name in booked  # nothing typed again
    # The time on the button is the time booked (in the caller's zone when the script sent it).
    hour, minute = re.findall(r"(\d{1,2}):(\d{2})", first_choice)[-1]
    assert re.search(rf"\b0?{int(hour)}:{minute}\b", booked), (first_choice, booked)
    _shot(slower, screenshot_dir, f"rebook-{lang}-{'js' if javascript else 'nojs'}-2-booked")



# The booked page's links and the answers to them, in each language.
CHANGE = {
    "de": {"move_link": "Dieses Telefonat verschieben", "move": "Telefonat verschieben",
           "moved": "Ihr Telefonat ist verschoben", "cancel_link": "Dieses Telefonat absagen",
           "cancel": "Ja, Telefonat absagen", "cancelled": "Dieses Telefonat ist abgesagt"},
    "en": {"move_link": "Move this call", "move": "Move the call",
           "moved": "Your call is moved", "cancel_link": "Cancel this call",
           "cancel": "Yes, cancel the call", "cancelled": "This call is cancelled"},
}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_the_caller_moves_the_call_and_then_cancels_it_in_the_browser(
    site: Served, new_context, screenshot_dir: Path, javascript: bool
) -> None:
    """The links on the booked page, followed and their forms sent as a person does: the
    forms post back from pages whose addresses hold a token, which a browser must still
    let the handler recognise as coming from the site itself."""
    lang, words = site.language, CHANGE[site.language]
    slot = site.claim_slot()
    page = new_context(site, java_script_enabled=javascript).new_page()
    assert book(page, site, slot, Caller(topic="Umzug"), javascript=javascript).status == 200

    page.get_by_role("link", name=words["move_link"]).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    choice = page.locator("label.choice").last  # the latest time offered
    new_time = choice.inner_text()
    choice.click()
    with page.expect_navigation() as moved:
        page.get_by_role("button", name=words["move"]).click()
    assert moved.value is not None and moved.value.status == 200, body_text(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(words["moved"])
    start_of_new = new_time.split("–")[0].strip()
    expect(page.locator("dd").first).to_contain_text(start_of_new)
    # The call's own page again: "add to calendar" for the new time, and both links.
    expect(page.get_by_role("link", name=WORDS[lang]["ics"])).to_be_visible()
    _shot(page, screenshot_dir, f"change-{lang}-{'js' if javascript else 'nojs'}-1-moved")

    page.get_by_role("link", name=words["cancel_link"]).click()
    with page.expect_navigation() as cancelled:
        page.get_by_role("button", name=words["cancel"]).click()
    assert cancelled.value is not None and cancelled.value.status == 200, body_text(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(words["cancelled"])
    _shot(page, screenshot_dir, f"change-{lang}-{'js' if javascript else 'nojs'}-2-cancelled")
