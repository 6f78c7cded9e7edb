"""After booking: "Add to calendar" on the booked page (a .ics by the secret token, Google,
Outlook), and after a refused time the next open times as one-click choices that book
with the caller's own details. Real SQLite and PostgreSQL stores, real slots."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from handler_support import NOW, SECRET, AnswerPage
from test_handler import form, make_client, nothing_stored, settings, site_root, slots, store

from generator.domain import Slot
from generator.signing import verify_slot_token

__all__ = ["settings", "site_root", "slots", "store"]  # fixtures shared with test_handler


@pytest.fixture
def client(settings, store):  # type: ignore[no-untyped-def]
    # No calendar re-check: the example calendar's file is read in the build test; here the
    # open times come from the hours and the booked calls.
    return make_client(replace(settings, calendars=()), store)


def _booked(client, chosen: Slot, **changes: str) -> tuple[str, AnswerPage]:  # type: ignore[no-untyped-def]
    response = client.post("/api/book", data=form(chosen, **changes))
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    return location, AnswerPage.parse(client.get(location).get_data(as_text=True))


def test_the_booked_page_offers_the_call_for_the_callers_calendar(client, store, slots) -> None:
    location, page = _booked(client, slots[0], tz="America/New_York", lang="en", topic="Lease")
    links = dict(page.links)
    token = parse_qs(urlsplit(location).query)["token"][0]
    assert links["Calendar file (.ics)"] == f"/api/booking.ics?token={token}"
    google = urlsplit(links["Google Calendar"])
    assert google.netloc == "calendar.google.com"
    query = parse_qs(google.query)
    start, end = slots[0].start, slots[0].end
    assert query["dates"] == [f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"]
    assert query["ctz"] == ["America/New_York"]  # shown in the caller's zone
    assert query["text"] == ["Call with Dr. Anna Beispiel: Lease"]
    outlook = parse_qs(urlsplit(links["Outlook.com"]).query)
    assert outlook["startdt"] == [f"{start:%Y-%m-%dT%H:%M:%SZ}"]
    # The secret token never travels to another site.
    assert token not in links["Google Calendar"] + links["Outlook.com"]

    answer = client.get(links["Calendar file (.ics)"])
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/calendar")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="call.ics"'
    assert answer.headers["Cache-Control"] == "no-store"
    calendar = icalendar.Calendar.from_ical(answer.get_data())
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == start and event.decoded("dtend") == end
    assert str(event["summary"]) == "Call with Dr. Anna Beispiel: Lease"
    assert event.walk("VALARM"), "the file reminds the caller before the call"
    assert str(calendar["method"]) == "PUBLISH"
    # The same file every time (no clock in it): a second download changes nothing.
    assert client.get(links["Calendar file (.ics)"]).get_data() == answer.get_data()


def test_the_calendar_file_is_reached_by_the_secret_token_only(client, store, slots) -> None:
    _booked(client, slots[0])
    booking = store.bookings()[0]
    for guess in (booking.id, "x" * 43, ""):
        answer = client.get(f"/api/booking.ics?token={guess}")
        assert answer.status_code == 404, guess
        assert b"BEGIN:VCALENDAR" not in answer.get_data()


def _first_free_after(slots: list[Slot], taken: Slot) -> list[Slot]:
    return [s for s in slots if s.call_type == taken.call_type and s.start > taken.start]


def test_a_taken_time_offers_the_next_three_with_the_callers_details(
    client, store, slots
) -> None:
    taken = next(s for s in slots if s.call_type == "rueckruf")
    first = client.post("/api/book", data=form(taken, name="Erika Erste", phone="030 1111111"))
    assert first.status_code == 303
    mine = {"name": "Max Zweiter", "phone": "+49 170 5550101", "topic": "Vertrag Müller",
            "note": "Bitte nachmittags", "tz": "America/New_York", "email": "max@example.org"}
    response = client.post("/api/book", data=form(taken, **mine))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    page = AnswerPage.parse(html)
    assert page.heading == "Dieser Termin wurde gerade vergeben"
    choices = [f for f in page.forms if f["hidden"].get("slot")]  # type: ignore[union-attr]
    assert len(choices) == 3
    offered = []
    for choice in choices:
        hidden = choice["hidden"]
        slot = verify_slot_token(SECRET, hidden["slot"])  # type: ignore[index]
        assert slot.call_type == taken.call_type and slot.start > NOW
        assert slot != taken
        for key, value in mine.items():
            assert hidden[key] == value, key  # type: ignore[index]
        offered.append(slot)
    assert offered == sorted(offered) and len(set(offered)) == 3
    # Only what this request carried: nothing of the caller who was quicker.
    assert "Erika Erste" not in html and "1111111" not in html
    # Buttons name the time in the caller's zone (New York: 6 hours before Berlin).
    label = choices[0]["button"]
    there = offered[0].start.astimezone(UTC) - timedelta(hours=5)
    assert str(label).endswith(f" {there.hour}:{there.minute:02d}"), label
    # ...and say which zone that is: the caller may not expect their own.
    assert "Alle Zeiten: Nordamerikanische Ostküstenzeit" in html

    # One click: the hidden fields post as they are and the call is booked.
    again = client.post(str(choices[0]["action"]), data=choices[0]["hidden"])
    assert again.status_code == 303
    booked = [b for b in store.bookings() if b.name == "Max Zweiter"]
    assert len(booked) == 1 and booked[0].start == offered[0].start
    assert booked[0].topic == "Vertrag Müller" and booked[0].caller_timezone == "America/New_York"


def test_the_json_answer_lists_the_choices(client, store, slots) -> None:
    taken = slots[0]
    assert client.post("/api/book", json=form(taken)).status_code == 201
    response = client.post("/api/book", json=form(taken, name="Erika"))
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "slot_taken"
    choices = body["alternatives"]
    assert len(choices) == 3
    for choice in choices:
        slot = verify_slot_token(SECRET, choice["slot"])
        assert choice["start"] == f"{slot.start:%Y-%m-%dT%H:%M:%SZ}"
        assert slot.call_type == taken.call_type
    retry = client.post("/api/book", json=form(taken, name="Erika") | {"slot": choices[0]["slot"]})
    assert retry.status_code == 201


def test_a_full_day_offers_times_of_later_days(settings, store) -> None:
    settings = replace(settings, calendars=(), booking=replace(settings.booking, max_per_day=1))
    client = make_client(settings, store)
    day = NOW.replace(day=30)
    first = Slot(day.replace(hour=8), day.replace(hour=8, minute=30), "rueckruf")
    second = Slot(day.replace(hour=10), day.replace(hour=10, minute=30), "rueckruf")
    assert client.post("/api/book", json=form(first)).status_code == 201
    response = client.post("/api/book", json=form(second, name="Erika"))
    assert response.status_code == 409 and response.get_json()["error"] == "day_full"
    starts = [datetime.fromisoformat(c["start"]) for c in response.get_json()["alternatives"]]
    assert len(starts) == 3 and all(s.date() > day.date() for s in starts)


def test_a_refused_form_with_bad_fields_offers_no_choices(client, store, slots) -> None:
    response = client.post("/api/book", data=form(slots[0], phone="(((-)"))
    assert response.status_code == 400
    assert not AnswerPage.parse(response.get_data(as_text=True)).forms
    assert nothing_stored(store)
