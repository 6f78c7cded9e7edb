"""Invitations and the owner's feed: what calendar apps read back from our iCalendar."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from icalendar import Calendar
from notify_support import CREATED, START, make_booking, site_settings

from generator.notify.invite import booking_uid, bookings_feed, invitation

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


def _event(data: bytes):
    cal = Calendar.from_ical(data)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


def test_request_carries_times_people_topic_phone_and_alarm(example_site: Path) -> None:
    settings = site_settings(example_site)
    booking = make_booking()
    cal, event = _event(invitation(settings, booking, method="REQUEST", audience="owner", now=NOW))

    assert cal["METHOD"] == "REQUEST"
    assert event.decoded("DTSTART") == START
    assert event.decoded("DTEND") == START + dt.timedelta(minutes=30)
    assert str(event["UID"]) == booking_uid(settings, booking) == "bk0000@anna-beispiel.example.org"
    assert event["SEQUENCE"] == 0
    assert str(event["ORGANIZER"]) == "mailto:anna@example.org"
    assert str(event["ATTENDEE"]) == "mailto:max@example.com"
    assert event["ATTENDEE"].params["CN"] == "Max Muster"
    assert str(event["SUMMARY"]) == "Telefonat: Vertrag XY – Max Muster"
    description = str(event["DESCRIPTION"])
    assert "Vertrag XY" in description
    # The owner's national format, and a tel: link a phone's calendar app dials in one tap.
    assert "Telefon: 0170 5550101 (tel:+491705550101)" in description
    assert "Dr. Anna Beispiel ruft Max Muster an" in description
    alarms = event.walk("VALARM")
    assert len(alarms) == 1
    assert alarms[0].decoded("TRIGGER") == -dt.timedelta(minutes=10)


def test_caller_copy_is_in_the_callers_language_with_the_owners_number(
    example_site: Path,
) -> None:
    settings = site_settings(example_site)
    booking = make_booking(language="en", who_calls="caller")
    _, event = _event(
        invitation(
            settings,
            booking,
            method="REQUEST",
            audience="caller",
            now=NOW,
            cancel_url="https://x.example/api/cancel?token=abc",
        )
    )
    assert str(event["SUMMARY"]) == "Call with Dr. Anna Beispiel: Vertrag XY"
    description = str(event["DESCRIPTION"])
    assert "Max Muster calls Dr. Anna Beispiel: +49 30 1234567" in description
    assert "https://x.example/api/cancel?token=abc" in description


def test_cancel_has_same_uid_and_higher_sequence(example_site: Path) -> None:
    settings = site_settings(example_site)
    booked = make_booking()
    cancelled = dataclasses.replace(booked, status="cancelled", cancelled_at=NOW, sequence=1)
    _, request = _event(invitation(settings, booked, method="REQUEST", audience="owner", now=NOW))
    cal, cancel = _event(
        invitation(settings, cancelled, method="CANCEL", audience="caller", now=NOW)
    )
    assert cal["METHOD"] == "CANCEL"
    assert cancel["UID"] == request["UID"]
    assert cancel["SEQUENCE"] > request["SEQUENCE"]
    assert cancel["STATUS"] == "CANCELLED"
    assert cancel.decoded("DTSTART") == START
    # Even a store that forgot to raise the sequence cannot produce a CANCEL at 0.
    _, cancel0 = _event(invitation(settings, booked, method="CANCEL", audience="owner", now=NOW))
    assert cancel0["SEQUENCE"] == 1


def test_feed_lists_confirmed_calls_with_stable_uids(example_site: Path) -> None:
    settings = site_settings(example_site)
    bookings = [
        make_booking(0),
        make_booking(1, status="cancelled", cancelled_at=NOW, sequence=1),
        make_booking(2, topic="Steuer", name="Erika", email="", note=""),
    ]
    data = bookings_feed(settings, bookings)
    cal = Calendar.from_ical(data)
    assert "METHOD" not in cal
    events = cal.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [
        "bk0000@anna-beispiel.example.org",
        "bk0002@anna-beispiel.example.org",
    ]
    assert str(events[1]["SUMMARY"]) == "Telefonat: Steuer – Erika"
    assert "0170 5550101 (tel:+491705550101)" in str(events[0]["DESCRIPTION"])
    assert "max@example.com" in str(events[0]["DESCRIPTION"])
    assert events[0].decoded("DTSTAMP") == CREATED
    # Byte-for-byte stable between polls, so calendar apps see no phantom changes.
    assert bookings_feed(settings, bookings) == data
