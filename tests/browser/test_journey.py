"""A caller's whole journey in a real browser: choose a time, give a topic, get the call.

Each booking test claims a slot (on a day of its own) from the site's
slots.json, so tests never compete for one slot unless they mean to.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

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
    slot_radio,
    submit,
)
from playwright.sync_api import expect
from served import OWNER_TZ, Served, time_pattern

pytestmark = pytest.mark.browser

NEW_YORK = ZoneInfo("America/New_York")


def test_book_a_call_then_the_time_is_taken_for_everyone_else(site: Served, new_context) -> None:
    """Choose, book, see the thanks page; the slot greys out; a slower caller is told kindly."""
    slower = new_context(site).new_page()
    open_booking_page(slower, site)  # opened before the booking: still shows the slot free
    slot = site.claim_slot(on=slower)  # a time this page offers
    built_before = slower.request.get(f"{site.url}/")

    page = new_context(site, timezone_id="America/New_York").new_page()
    caller = Caller(topic="Vertrag XY" if site.language == "de" else "Lease renewal")
    response = book(page, site, slot, caller)

    assert response.status == 200, body_text(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(LABELS[site.language]["booked"])
    # The caller's browser said where they are: "When" is their own time first,
    # then the owner's time.
    theirs = page.locator("dd").first.inner_text()
    assert time_pattern(slot.start.astimezone(NEW_YORK)).search(theirs), theirs
    owner_time = page.locator("dd").nth(1).inner_text()
    assert slot.time_pattern.search(owner_time), f"{owner_time!r} is not {slot.hhmm}"
    assert caller.topic in body_text(page)

    # Reloaded, the page no longer lets anyone choose that time: `callslot serve`
    # rebuilds it within a second (the time is gone), and until then the script
    # greys it out.
    open_booking_page(page, site)
    expect(page.locator(f'input[value="{slot.token}"]:not([disabled])')).to_have_count(0)

    # A static host keeps serving the page built before the booking until its next
    # build: there the script greys the time out, and it cannot be chosen.
    keep_page_as_built(page, site, built_before)
    open_booking_page(page, site)
    radio = slot_radio(page, slot)
    expect(radio).to_be_disabled()
    expect(page.locator(f'label[for="{slot.id}"]')).to_contain_text(LABELS[site.language]["taken"])
    page.locator(f'label[for="{slot.id}"]').click(force=True)
    expect(radio).not_to_be_checked()

    # The slower caller still sees it free, tries, and is told it was just taken.
    expect(slot_radio(slower, slot)).to_be_enabled()
    choose_slot(slower, slot)
    fill_details(slower, site, Caller(name="Max Zweiter", topic="Zu spät"))
    answer = submit(slower, site)
    assert answer.status == 409
    expect(slower.get_by_role("heading", level=1)).to_have_text(LABELS[site.language]["just_taken"])
    # ... with a way back to the open slots.
    slower.get_by_role("link", name=LABELS[site.language]["back"]).click()
    expect(slower.locator("input[name=slot]").first).to_be_attached()
    assert slower.locator("input[name=slot]:not([disabled])").count() >= 1


def test_booking_works_without_javascript(site_de: Served, new_context) -> None:
    slot = site_de.claim_slot()
    page = new_context(site_de, java_script_enabled=False).new_page()
    caller = Caller(topic="Ohne Skript")
    response = book(page, site_de, slot, caller, javascript=False)
    assert response.status == 200, body_text(page)
    text = body_text(page)
    assert "Ihr Telefonat ist gebucht" in text
    assert slot.time_pattern.search(text), text
    assert caller.topic in text


def test_visitor_in_new_york_sees_their_time_first(site: Served, new_context) -> None:
    page = new_context(site, timezone_id="America/New_York").new_page()
    open_booking_page(page, site)
    # The first time on the page (the page is rebuilt as other tests book).
    radio = page.locator("input[name=slot]").first
    start = datetime.fromisoformat(radio.get_attribute("data-start") or "")
    label = page.locator(f'label[for="{radio.get_attribute("id")}"]')
    local, owners = start.astimezone(NEW_YORK), start.astimezone(OWNER_TZ)
    # The visitor's time is the label; the owner's time and zone the small line under it:
    # "3:00 / 9:00 MEZ" or "3:00 AM / 9:00 CET" (in summer MESZ, CEST), as mails write times.
    # A third line, "vergeben"/"taken", follows when a booking elsewhere in the session
    # has taken that time since the page was built.
    main, second = label.inner_text().split("\n")[:2]
    assert re.search(rf"\b({local.hour}|{local.hour % 12 or 12}):{local.minute:02d}\b", main), main
    summer = bool(owners.dst())
    zone = {"de": ("MEZ", "MESZ"), "en": ("CET", "CEST")}[site.language][summer]
    assert second == f"{owners.hour}:{owners.minute:02d} {zone}", second
    zones = {"de": ("Nordamerikanische Ostküstenzeit", "Mitteleuropäische Zeit"),
             "en": ("Eastern Time", "Central European Time")}[site.language]
    hint = page.locator("#zone-hint").inner_text()
    assert all(zone in hint for zone in zones), hint


def test_visitor_in_the_owners_zone_sees_one_time(site_de: Served, new_context) -> None:
    page = new_context(site_de).new_page()
    open_booking_page(page, site_de)
    assert page.locator("label .local").count() == 0


def test_phone_viewport_has_no_horizontal_scrolling(site: Served, new_context) -> None:
    page = new_context(
        site, viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True
    ).new_page()
    open_booking_page(page, site)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide on a 375px phone: it scrolls sideways"


def test_keyboard_only_journey(site_en: Served, new_context) -> None:
    """Tab to the times, arrow to one, Space to pick it, type, Tab to the button, Enter."""
    slot = site_en.claim_slot()
    page = new_context(site_en).new_page()
    open_booking_page(page, site_en)
    active = "() => document.activeElement"

    def focused(attribute: str) -> str:
        return page.evaluate(f"() => document.activeElement.getAttribute({attribute!r}) || ''")

    later = page.locator(f'details.more input[value="{slot.token}"]').count() == 1
    for _ in range(40):  # links in the intro and the navigation come first
        page.keyboard.press("Tab")
        if later and page.evaluate(f"({active})().tagName") == "SUMMARY":
            # The slot is on a later day: open "More days" (its times join the group),
            # then back into the times.
            page.keyboard.press("Enter")
            later = False
            page.keyboard.press("Shift+Tab")
        if not later and focused("name") == "slot":
            break
    else:
        raise AssertionError("Tab never reached a time slot")
    # One radio group holds all times: arrow keys move through it, as in any form.
    for _ in range(len(site_en.slots) + 1):
        if focused("value") == slot.token:
            break
        page.keyboard.press("ArrowDown")
    else:
        raise AssertionError("the arrow keys never reached the chosen time")
    page.keyboard.press("Space")
    expect(slot_radio(page, slot)).to_be_checked()

    answers = {"topic": "Keyboard only", "name": "Kim Tab", "phone": "+1 212 555 0100"}
    typed = {}
    for _ in range(20):  # Tab through the fields, typing into those the booking needs
        page.keyboard.press("Tab")
        name = focused("name")
        if name in ("topic", "name", "phone") and name not in typed:
            typed[name] = answers[name]
            page.keyboard.type(answers[name])
        if page.evaluate(f"({active})().type") == "submit":
            break
    else:
        raise AssertionError("Tab never reached the booking button")
    assert set(typed) == {"topic", "name", "phone"}, f"Tab skipped fields: only {sorted(typed)}"
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    assert navigation.value is not None and navigation.value.status == 200, body_text(page)
    text = body_text(page)
    assert "Your call is booked" in text
    assert "Keyboard only" in text

    # And back to the open times, still without a mouse.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent") == LABELS["en"]["back"]:
            break
    else:
        raise AssertionError("Tab never reached the link back to the open times")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("input[name=slot]").first).to_be_attached()


def test_focus_is_visible_on_a_time_slot(site_de: Served, new_context) -> None:
    """A keyboard user sees where they are: the focused time has an outline."""
    page = new_context(site_de).new_page()
    open_booking_page(page, site_de)
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.name") == "slot":
            break
    outline = page.evaluate(
        """() => {
            const radio = document.activeElement;
            const styles = [getComputedStyle(radio), getComputedStyle(radio.labels[0])];
            return styles.some(s => s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2
                                    || s.boxShadow !== 'none');
        }"""
    )
    assert outline, "the focused time slot has no visible focus indicator"
