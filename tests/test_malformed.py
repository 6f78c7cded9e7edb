"""Malformed calendars never free time: each defect is read the widest way or stops the read.

One fixture per kind of defect in tests/calendars/ (docs/malformed-calendars.md
has the policy). Each test shows the busy time the engine reads and that no
slot around the defect is offered, or that the read stops with a message that
names the calendar, the event's UID, its line and the property, in our words.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.availability import open_slots
from generator.busy.calendars import busy_from_ics, read_busy
from generator.commands.slots import settings_for_check
from generator.config.settings import CalendarSource, Secret
from generator.errors import CalendarError

CALENDARS = Path(__file__).resolve().parent / "calendars"
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 30, tzinfo=UTC)
WINDOW = (NOW, NOW + timedelta(days=14))


def fixture(name: str) -> bytes:
    return (CALENDARS / name).read_bytes()


def local(name: str) -> list[tuple[str, str]]:
    fmt = "%Y-%m-%d %H:%M"
    return [
        (b.start.astimezone(BERLIN).strftime(fmt), b.end.astimezone(BERLIN).strftime(fmt))
        for b in busy_from_ics(fixture(name), BERLIN, *WINDOW, name="Arbeit")
    ]


def offered(name: str) -> list[tuple[datetime, datetime]]:
    """The 30-minute slots `callslot slots` would offer around the clock for this calendar."""
    source = CalendarSource("Arbeit", Secret(str(CALENDARS / name)), "file")
    settings = settings_for_check(
        timezone="Europe/Berlin", duration=timedelta(minutes=30), step=None, hours=None,
        days=14, calendars=[source],
    )
    busy = read_busy(settings.calendars, settings.tz, *WINDOW)
    return [(s.start, s.end) for s in open_slots(settings, busy, NOW)]


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=BERLIN)


def assert_not_offered(name: str, *spans: tuple[str, str]) -> None:
    slots = offered(name)
    assert slots, "the rest of the fortnight is free"
    for first, last in spans:
        begin, end = at(first), at(last)
        clash = [s for s in slots if s[0] < end and begin < s[1]]
        assert not clash, f"{name}: offered {clash[0]} inside the busy {first} - {last}"


WIDENED = {
    "end_before_start.ics": [
        ("2026-12-02 10:00", "2026-12-02 12:00"),
        ("2026-12-03 13:30", "2026-12-03 16:30"),  # a series: a DST hour more each side
        ("2026-12-10 13:30", "2026-12-10 16:30"),
    ],
    # Daily 18:00-19:00 until 2 December 18:00 read the right way round: the last
    # evening blocks too, though its written start (19:00) comes after UNTIL. Each
    # evening blocks the length on both sides and a DST hour more (a series).
    "series_end_before_start_until.ics": [
        ("2026-11-30 17:00", "2026-11-30 21:00"),
        ("2026-12-01 17:00", "2026-12-01 21:00"),
        ("2026-12-02 17:00", "2026-12-02 21:00"),
    ],
    "duration_zero_and_negative.ics": [
        ("2026-12-02 09:00", "2026-12-02 09:00"),  # one second: the slot holding it
        ("2026-12-02 14:00", "2026-12-02 16:00"),
    ],
    "date_and_datetime_mixed.ics": [
        ("2026-12-02 00:00", "2026-12-04 00:00"),
        ("2026-12-05 20:00", "2026-12-07 00:00"),
        ("2026-12-08 09:00", "2026-12-08 10:00"),
        ("2026-12-09 09:00", "2026-12-09 10:00"),  # a DATE EXDATE frees nothing
        ("2026-12-10 09:00", "2026-12-10 10:00"),
        ("2026-12-12 00:00", "2026-12-13 00:00"),  # a DATE RDATE: the whole day
    ],
    "rdate_period_with_dates.ics": [
        ("2026-12-01 09:00", "2026-12-01 09:30"),
        ("2026-12-07 00:00", "2026-12-09 00:00"),
    ],
    "until_wrong_type.ics": [
        ("2026-12-01 16:00", "2026-12-01 17:00"),
        ("2026-12-02 16:00", "2026-12-02 17:00"),
        ("2026-12-03 16:00", "2026-12-03 17:00"),  # UNTIL=20261203 keeps that day
        ("2026-12-07 16:00", "2026-12-07 17:00"),
        ("2026-12-08 16:00", "2026-12-08 17:00"),
        ("2026-12-09 16:00", "2026-12-09 17:00"),  # UNTIL 10:00 New York, not UTC
    ],
    "duplicate_uids_conflicting.ics": [
        ("2026-12-01 08:00", "2026-12-01 08:30"),
        ("2026-12-02 10:00", "2026-12-02 11:00"),
        ("2026-12-02 14:00", "2026-12-02 15:00"),
        ("2026-12-08 12:00", "2026-12-08 12:30"),
        ("2026-12-08 16:00", "2026-12-08 16:30"),
    ],
    "recurrence_id_without_instance.ics": [
        ("2026-12-01 09:00", "2026-12-01 10:00"),
        ("2026-12-02 09:00", "2026-12-02 10:00"),
        ("2026-12-02 13:00", "2026-12-02 14:00"),
        ("2026-12-03 09:00", "2026-12-03 10:00"),
    ],
    "this_and_future_without_instance.ics": [
        ("2026-12-01 09:00", "2026-12-01 10:00"),  # where the series puts it
        ("2026-12-01 10:30", "2026-12-01 12:30"),  # shifted as the override says, and at its time
        ("2026-12-08 09:00", "2026-12-08 10:00"),
        ("2026-12-08 10:30", "2026-12-08 12:30"),
    ],
    "freebusy_reversed.ics": [("2026-12-02 13:00", "2026-12-02 15:00")],
    "trailing_text_after_end.ics": [("2026-12-02 10:00", "2026-12-02 11:00")],
}


@pytest.mark.parametrize("name", sorted(WIDENED))
def test_a_defect_blocks_its_widest_reading(name: str) -> None:
    assert local(name) == WIDENED[name]


@pytest.mark.parametrize("name", sorted(WIDENED))
def test_no_slot_is_offered_in_the_widest_reading(name: str) -> None:
    spans = [(a, b if b != a else a[:-2] + f"{int(a[-2:]) + 1:02d}") for a, b in WIDENED[name]]
    assert_not_offered(name, *spans)


STOPS = {
    "rrule_unparsable_byday.ics": ("bad-rule@test", 10, "RRULE", "BYDAY=XX names no weekday"),
    "tzid_names_no_zone.ics": ("mars@test", 4, "DTSTART", "'Mars/Olympus_Mons'"),
    "date_with_month_13.ics": ("month13@test", 4, "DTSTART", "'20261303T140000' is not a valid"),
}


@pytest.mark.parametrize("name", sorted(STOPS))
def test_a_defect_without_a_safe_reading_stops_with_the_event_named(name: str) -> None:
    uid, line, prop, what = STOPS[name]
    with pytest.raises(CalendarError) as caught:
        busy_from_ics(fixture(name), BERLIN, *WINDOW, name="Arbeit")
    text = caught.value.format_message()
    assert text.startswith("calendar 'Arbeit': ")
    assert f"'{uid}' (line {line}): {prop} " in text, text
    assert what in text, text
    assert_in_our_words(text)


# --------------------------------------------------------------------------
# Messages in our words


def assert_in_our_words(text: str) -> None:
    """No Python class name, no library's wording."""
    assert not re.search(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b", text), text  # CamelCase names
    assert not re.search(r"\bv[A-Z]{2}", text), text  # vDDDTypes, vRecur, ...
    for words in (
        "Traceback", "Error", "broken property", "Cannot access", "parameter is missing",
        "Expected", "could not be parsed", "Wrong datetime format", "greater than",
        "icalendar", "dateutil", "recurring", "NoneType", "object",
    ):
        assert words not in text, (words, text)


EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:e@test\r\n{}\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
HOUR = "DTSTART:20261201T140000Z\r\nDTEND:20261201T150000Z\r\n"
BAD = {
    "month 13": "DTSTART:20261303T140000\r\nDTEND:20261203T150000",
    "no frequency": HOUR + "RRULE:FREQ=FOO",
    "bad weekday": HOUR + "RRULE:FREQ=WEEKLY;BYDAY=XX",
    "bad interval": HOUR + "RRULE:FREQ=DAILY;INTERVAL=x",
    "bad until": HOUR + "RRULE:FREQ=DAILY;UNTIL=soon",
    "bad duration": "DTSTART:20261201T140000Z\r\nDURATION:an hour",
    "mangled end line": "DTSTART:20261201T140000Z\r\nDTEND 20261201T150000Z",
    "unknown zone": "DTSTART;TZID=Nowhere/Town:20261201T140000\r\nDTEND:20261201T150000Z",
    "no start": "DTEND:20261201T150000Z",
    "bad exdate": HOUR + "RRULE:FREQ=DAILY\r\nEXDATE:tomorrow",
    "too often": "DTSTART:20261101T000000Z\r\nDTEND:20261101T000030Z\r\nRRULE:FREQ=SECONDLY",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_event_error_names_the_event_in_our_words(case: str) -> None:
    with pytest.raises(CalendarError) as caught:
        busy_from_ics(EVENT.format(BAD[case]).encode(), BERLIN, *WINDOW, name="Arbeit")
    text = caught.value.format_message()
    assert text.startswith("calendar 'Arbeit': the event 'e@test' (line 3)"), text
    assert_in_our_words(text)


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>Please sign in</body></html>",
        b"",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261201T090000Z\r\n",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
        b"BEGIN:VCALENDAR\r\nX-WR-TIMEZONE:Mars/Olympus\r\nEND:VCALENDAR\r\n",
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n",
        b"BEGIN:VCALENDAR\r\nBEGIN:VFREEBUSY\r\nFREEBUSY:20261202T120000Z/soon\r\n"
        b"END:VFREEBUSY\r\nEND:VCALENDAR\r\n",
    ],
    ids=["html", "empty", "cut", "mismatched", "x-wr-timezone", "second cut", "freebusy"],
)
def test_calendar_errors_are_in_our_words(body: bytes) -> None:
    with pytest.raises(CalendarError) as caught:
        busy_from_ics(body, BERLIN, *WINDOW, name="Arbeit")
    text = caught.value.format_message()
    assert text.startswith("calendar 'Arbeit': ")
    assert_in_our_words(text)


def test_text_after_a_complete_calendar_is_accepted_and_a_cut_one_refused() -> None:
    data = fixture("trailing_text_after_end.ics")
    assert local("trailing_text_after_end.ics") == [("2026-12-02 10:00", "2026-12-02 11:00")]
    cut = data[: data.index(b"END:VCALENDAR")]
    with pytest.raises(CalendarError, match="cut short"):
        busy_from_ics(cut + b"<!-- cached -->\r\n", BERLIN, *WINDOW, name="Arbeit")


# --------------------------------------------------------------------------
# Skipping ahead to the window gives exactly the instances a full walk gives


@settings(max_examples=60, deadline=None)
@given(
    freq=st.sampled_from(["HOURLY", "DAILY", "WEEKLY"]),
    interval=st.integers(min_value=1, max_value=5),
    days_back=st.integers(min_value=3, max_value=2000),
    minute=st.integers(min_value=0, max_value=59),
    byday=st.lists(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), unique=True,
                   max_size=3),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "UTC"]),
    minutes=st.integers(min_value=15, max_value=600),
)
def test_skipping_ahead_gives_the_same_instances_as_a_full_walk(
    freq, interval, days_back, minute, byday, zone, minutes
):
    import generator.busy.calendars as calendars
    import generator.busy.expansion as expansion

    if freq == "HOURLY":
        days_back = min(days_back, 300)  # a full walk of years of hours is what we avoid
    first = datetime(2026, 12, 1, 9, minute) - timedelta(days=days_back)
    rule = f"FREQ={freq};INTERVAL={interval}" + (f";BYDAY={','.join(byday)}" if byday else "")
    start = f"DTSTART;TZID={zone}:{first:%Y%m%dT%H%M%S}" if zone != "UTC" else (
        f"DTSTART:{first:%Y%m%dT%H%M%S}Z"
    )
    data = EVENT.format(f"{start}\r\nDURATION:PT{minutes}M\r\nRRULE:{rule}").encode()
    skipped = busy_from_ics(data, BERLIN, *WINDOW, name="A")
    original = (calendars.skip_ahead, expansion.MAX_OCCURRENCES)
    try:
        calendars.skip_ahead = lambda *args: None
        expansion.MAX_OCCURRENCES = 10**7
        walked = busy_from_ics(data, BERLIN, *WINDOW, name="A")
    finally:
        calendars.skip_ahead, expansion.MAX_OCCURRENCES = original
    assert skipped == walked
