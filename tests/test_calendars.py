"""Calendars -> busy intervals: RFC 5545 semantics, checked on hand-written calendars.

Each fixture in tests/calendars/ is named after the case it guards. Expected
times are written as the owner reads them (Europe/Berlin wall clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.calendars import generate_calendar
from generator.busy import cache as busycache
from generator.busy import calendars
from generator.busy.calendars import busy_from_ics, describe_calendar, merge_busy, read_busy
from generator.busy.prefilter import filter_events
from generator.config.settings import CalendarSource, Secret
from generator.domain import Busy
from generator.errors import CalendarError, ConfigError

CALENDARS = Path(__file__).resolve().parent / "calendars"
BERLIN = ZoneInfo("Europe/Berlin")
YEAR_2026 = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def fixture(name: str) -> bytes:
    return (CALENDARS / name).read_bytes()


def local(busy: list[Busy], tz: ZoneInfo = BERLIN) -> list[tuple[str, str]]:
    """Busy intervals as the owner reads them: ("2026-12-01 09:00+01", "...")."""
    fmt = "%Y-%m-%d %H:%M%z"
    return [
        (b.start.astimezone(tz).strftime(fmt)[:-2], b.end.astimezone(tz).strftime(fmt)[:-2])
        for b in busy
    ]


def read(name: str, start: datetime = YEAR_2026[0], end: datetime = YEAR_2026[1]):
    return local(busy_from_ics(fixture(name), BERLIN, start, end, name=name))


def library(name: str, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """What recurring-ical-events alone answers (to show where we differ from it)."""
    cal = icalendar.Calendar.from_ical(fixture(name))
    return local(
        [
            Busy(e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC))
            for e in recurring_ical_events.of(cal).between(start, end)
        ]
    )


def file_source(name: str, path: Path) -> CalendarSource:
    return CalendarSource(name=name, location=Secret(str(path)), kind="file")


# --------------------------------------------------------------------------
# Series, overrides, exceptions


def test_moved_instance_blocks_its_new_time_and_frees_the_old_one():
    assert read(
        "moved_instance.ics", datetime(2026, 11, 29, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)
    ) == [
        ("2026-12-01 14:00+01", "2026-12-01 15:30+01"),  # moved from Monday 30 Nov
        ("2026-12-07 10:00+01", "2026-12-07 11:00+01"),
    ]


def test_this_and_future_override_moves_every_later_instance():
    assert read("this_and_future.ics") == [
        ("2026-11-10 09:00+01", "2026-11-10 10:00+01"),
        ("2026-11-17 09:00+01", "2026-11-17 10:00+01"),
    ] + [
        (f"2026-{d} 11:00+01", f"2026-{d} 12:30+01")
        for d in ("11-24", "12-01", "12-08", "12-15", "12-22", "12-29")
    ]


def test_rdate_adds_and_exdate_removes_instances():
    assert read("rdate_exdate.ics") == [
        ("2026-11-30 08:00+01", "2026-11-30 08:30+01"),
        ("2026-12-01 08:00+01", "2026-12-01 08:30+01"),
        # Wednesday 2 Dec is an EXDATE
        ("2026-12-03 08:00+01", "2026-12-03 08:30+01"),
        ("2026-12-04 08:00+01", "2026-12-04 08:30+01"),
        ("2026-12-05 16:00+01", "2026-12-05 16:30+01"),  # RDATEs
        ("2026-12-06 16:00+01", "2026-12-06 16:30+01"),
    ]


def test_rdate_periods_last_as_long_as_they_say():
    assert read("rdate_period.ics") == [
        ("2026-11-30 09:00+01", "2026-11-30 09:30+01"),
        ("2026-12-01 09:00+01", "2026-12-01 11:00+01"),  # PT2H
        ("2026-12-02 09:00+01", "2026-12-02 12:00+01"),  # until 12:00
        ("2026-12-03 09:00+01", "2026-12-03 09:30+01"),  # a plain RDATE: the event's length
    ]


def test_transparent_and_cancelled_block_nothing_but_tentative_blocks():
    assert read("status_transp.ics") == [
        ("2026-11-30 16:00+01", "2026-11-30 17:00+01"),
        # 09:00 transparent and 11:00 cancelled are free; 13:00 tentative blocks;
        # the series instance of 1 Dec at 16:00 is cancelled by its override.
        ("2026-12-01 13:00+01", "2026-12-01 14:00+01"),
        ("2026-12-02 16:00+01", "2026-12-02 17:00+01"),
    ]


def test_an_override_without_end_keeps_the_series_length():
    # The library makes it an instant (blocking nothing); we keep the hour.
    assert read("override_without_end.ics") == [
        ("2026-11-30 10:00+01", "2026-11-30 11:00+01"),
        ("2026-12-01 15:00+01", "2026-12-01 16:00+01"),
        ("2026-12-02 10:00+01", "2026-12-02 11:00+01"),
    ]


def test_an_event_without_dtstart_fails_naming_its_uid():
    data = fixture("floating.ics").replace(b"DTSTART:20261201T090000\n", b"")
    missing = r"the event 'floating@test' \(line \d+\): DTSTART is missing"
    with pytest.raises(CalendarError, match=missing):
        busy_from_ics(data, BERLIN, *YEAR_2026, name="Arbeit")


# --------------------------------------------------------------------------
# Kinds of time


def test_all_day_events_block_the_owners_whole_local_days():
    assert read("all_day_multi.ics") == [
        ("2026-03-29 00:00+01", "2026-03-30 00:00+02"),  # the 23-hour day
        ("2026-12-03 00:00+01", "2026-12-05 00:00+01"),  # DTEND is exclusive
        ("2026-12-08 00:00+01", "2026-12-09 00:00+01"),  # no DTEND: one day
        ("2026-12-14 00:00+01", "2026-12-16 00:00+01"),  # DURATION:P2D
    ]


def test_all_day_events_follow_the_owners_zone():
    new_york = ZoneInfo("America/New_York")
    busy = busy_from_ics(fixture("all_day_multi.ics"), new_york, *YEAR_2026)
    assert ("2026-12-08 00:00-05", "2026-12-09 00:00-05") in local(busy, new_york)


def test_floating_time_is_the_owners_local_time():
    assert read("floating.ics") == [("2026-12-01 09:00+01", "2026-12-01 10:30+01")]
    tokyo = ZoneInfo("Asia/Tokyo")
    busy = busy_from_ics(fixture("floating.ics"), tokyo, *YEAR_2026)
    assert local(busy, tokyo) == [("2026-12-01 09:00+09", "2026-12-01 10:30+09")]


def test_no_end_date_is_one_day_and_no_end_datetime_is_an_instant_that_blocks_its_slot():
    # The instant at 09:00 blocks one second: the slot starting at 09:00 is not offered.
    busy = busy_from_ics(fixture("no_end.ics"), BERLIN, *YEAR_2026)
    assert busy[0].end - busy[0].start == timedelta(seconds=1)
    assert read("no_end.ics") == [
        ("2026-12-01 09:00+01", "2026-12-01 09:00+01"),
        ("2026-12-02 00:00+01", "2026-12-03 00:00+01"),
    ]


def test_freebusy_periods_block_except_free():
    assert read("freebusy.ics") == [
        ("2026-11-30 09:00+01", "2026-11-30 10:00+01"),
        ("2026-11-30 11:00+01", "2026-11-30 12:00+01"),
        # 13:00 FBTYPE=FREE is free; tentative and unavailable block
        ("2026-11-30 15:00+01", "2026-11-30 15:30+01"),
        ("2026-12-01 08:00+01", "2026-12-01 10:00+01"),
    ]


def test_outlook_windows_zone_names_with_their_vtimezone():
    assert read("outlook_windows_tz.ics") == [
        ("2026-10-21 09:00+02", "2026-10-21 10:00+02"),
        ("2026-10-28 09:00+01", "2026-10-28 10:00+01"),  # after the change: still 09:00
        ("2026-11-04 09:00+01", "2026-11-04 10:00+01"),
        ("2026-12-01 14:00+01", "2026-12-01 15:00+01"),
    ]


def test_windows_zone_name_without_vtimezone():
    assert read("windows_tz_without_vtimezone.ics") == [
        ("2026-12-01 17:00+01", "2026-12-01 18:00+01")  # 08:00 Pacific
    ]


def test_google_x_wr_timezone_keeps_series_on_the_local_wall_clock():
    # Google writes the first instance in UTC; the series is 10:00 Berlin time,
    # so after the October change it is 09:00Z, not 08:00Z.
    assert read("google_x_wr_timezone.ics") == [
        ("2026-10-19 10:00+02", "2026-10-19 11:00+02"),
        ("2026-10-26 10:00+01", "2026-10-26 11:00+01"),
        ("2026-11-02 10:00+01", "2026-11-02 11:00+01"),
    ]


def test_google_x_wr_timezone_may_be_a_windows_name():
    data = fixture("google_x_wr_timezone.ics").replace(
        b"X-WR-TIMEZONE:Europe/Berlin", b"X-WR-TIMEZONE:W. Europe Standard Time"
    )
    busy = busy_from_ics(data, BERLIN, *YEAR_2026)
    assert busy == busy_from_ics(fixture("google_x_wr_timezone.ics"), BERLIN, *YEAR_2026)


def test_an_unknown_x_wr_timezone_fails_rather_than_guessing():
    data = fixture("google_x_wr_timezone.ics").replace(
        b"X-WR-TIMEZONE:Europe/Berlin", b"X-WR-TIMEZONE:Mars/Olympus"
    )
    with pytest.raises(CalendarError, match="Mars/Olympus"):
        busy_from_ics(data, BERLIN, *YEAR_2026, name="Arbeit")


def test_an_unknown_tzid_without_vtimezone_fails_rather_than_guessing():
    data = fixture("windows_tz_without_vtimezone.ics").replace(
        b"Pacific Standard Time", b"Foo/Bar Time"
    )
    with pytest.raises(CalendarError, match=r"'Foo/Bar Time'.*no VTIMEZONE"):
        busy_from_ics(data, BERLIN, *YEAR_2026, name="Arbeit")


# --------------------------------------------------------------------------
# DST weeks, and where we correct the library by RFC 5545


def test_dst_spring_forward_week_berlin():
    assert read("dst_spring_forward_berlin.ics") == [
        ("2026-03-26 09:00+01", "2026-03-26 10:00+01"),
        ("2026-03-27 09:00+01", "2026-03-27 10:00+01"),
        ("2026-03-28 09:00+01", "2026-03-28 10:00+01"),
        # 02:30 does not exist: read with the offset before the gap (+01:00)
        ("2026-03-29 03:30+02", "2026-03-29 04:30+02"),
        ("2026-03-29 09:00+02", "2026-03-29 10:00+02"),
        ("2026-03-30 09:00+02", "2026-03-30 10:00+02"),
        ("2026-03-31 09:00+02", "2026-03-31 10:00+02"),
    ]


def test_dst_fall_back_week_berlin():
    assert read("dst_fall_back_berlin.ics") == [
        ("2026-10-22 09:00+02", "2026-10-22 10:00+02"),
        ("2026-10-23 09:00+02", "2026-10-23 10:00+02"),
        ("2026-10-24 09:00+02", "2026-10-24 10:00+02"),
        # 02:30 happens twice: the first one (CEST)
        ("2026-10-25 02:30+02", "2026-10-25 04:00+01"),
        ("2026-10-25 09:00+01", "2026-10-25 10:00+01"),
        ("2026-10-26 09:00+01", "2026-10-26 10:00+01"),
        ("2026-10-27 09:00+01", "2026-10-27 10:00+01"),
    ]


def test_series_instances_last_exactly_as_long_as_the_first_across_dst():
    window = (datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 29, 12, tzinfo=UTC))
    # RFC 5545 3.8.5.3: three exact hours, so 01:00 CET to 05:00 CEST ...
    assert read("series_exact_length_dst.ics", *window) == [
        ("2026-03-29 01:00+01", "2026-03-29 05:00+02")
    ]
    # ... where the library adds three wall-clock hours and frees 04:00-05:00.
    assert library("series_exact_length_dst.ics", *window) == [
        ("2026-03-29 01:00+01", "2026-03-29 04:00+02")
    ]
    autumn = read(
        "series_exact_length_dst.ics",
        datetime(2026, 10, 24, 12, tzinfo=UTC),
        datetime(2026, 10, 25, 12, tzinfo=UTC),
    )
    # On the fall-back night three exact hours end at 03:00+01, but the wall clock (and
    # every calendar app) says 04:00: the owner is busy by either reading, so until 04:00.
    assert autumn == [("2026-10-25 01:00+02", "2026-10-25 04:00+01")]


def test_series_whose_first_instance_spans_spring_forward_keeps_its_wall_clock_hours():
    # 3.8.5.3 read alone makes every instance as short as the first real one: two hours
    # for a 01:00-04:00 night that starts on 29 March, and no time at all for a series
    # moved to 02:30-03:30 on that day (both ends are 03:30 CEST). Calendar apps show
    # later nights 01:00-04:00 and 02:30-03:30: we block the longer of the two readings.
    window = (datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 4, 1, 12, tzinfo=UTC))
    assert read("series_first_instance_in_spring_forward.ics", *window) == [
        ("2026-03-29 01:00+01", "2026-03-29 04:00+02"),  # the moved one: nothing that day
        ("2026-03-30 01:00+02", "2026-03-30 04:00+02"),
        ("2026-03-31 01:00+02", "2026-03-31 04:00+02"),
    ]


def test_duration_in_hours_is_exact_time_across_dst():
    window = (datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))
    # PT24H is 24 real hours (RFC 5545 3.3.6): 08:00 CET to 09:00 CEST ...
    assert read("duration_exact_hours_dst.ics", *window) == [
        ("2026-03-28 08:00+01", "2026-03-29 09:00+02")
    ]
    # ... icalendar reads PT24H as one day, and the library ends it at 08:00 CEST.
    assert library("duration_exact_hours_dst.ics", *window) == [
        ("2026-03-28 08:00+01", "2026-03-29 08:00+02")
    ]
    nights = read(
        "duration_exact_hours_dst.ics",
        datetime(2026, 10, 24, tzinfo=UTC),
        datetime(2026, 10, 27, tzinfo=UTC),
    )
    assert nights == [
        ("2026-10-24 22:00+02", "2026-10-25 03:00+01"),  # six real hours; the alarm's
        ("2026-10-25 22:00+01", "2026-10-26 04:00+01"),  # DURATION is not the event's
    ]


def test_duration_in_days_is_nominal_across_dst():
    assert read("duration_nominal_days_dst.ics") == [
        ("2026-03-28 18:00+01", "2026-03-29 18:00+02"),  # P1D: 23 real hours
        ("2026-10-24 06:00+02", "2026-10-25 08:00+01"),  # P1DT2H: a day, then 2 hours
    ]


def test_dst_gap_in_a_custom_vtimezone_takes_the_offset_before_the_gap():
    assert read("dst_gap_custom_vtimezone.ics") == [
        ("2026-03-29 03:30+02", "2026-03-29 04:30+02"),  # 02:30 read as +01:00
        ("2026-10-25 02:30+02", "2026-10-25 03:30+01"),  # ambiguous: the first 02:30
    ]
    window = (datetime(2027, 3, 27, 12, tzinfo=UTC), datetime(2027, 3, 28, 12, tzinfo=UTC))
    # A nightly 02:30-03:30 whose instance falls into the gap: one real hour from
    # 02:30+01:00. The library (dateutil's zone reads 02:30 as +02:00) has it an
    # hour early, 01:30 CET to 03:30 CEST, so the busy hour 03:30-04:30 would be offered.
    assert read("dst_gap_custom_vtimezone.ics", *window) == [
        ("2027-03-28 03:30+02", "2027-03-28 04:30+02")
    ]
    assert library("dst_gap_custom_vtimezone.ics", *window) == [
        ("2027-03-28 01:30+01", "2027-03-28 03:30+02")
    ]


# --------------------------------------------------------------------------
# The window, merging, several calendars


def test_intervals_touching_the_window_are_returned_whole():
    busy = busy_from_ics(
        fixture("all_day_multi.ics"),
        BERLIN,
        datetime(2026, 12, 4, 12, tzinfo=UTC),
        datetime(2026, 12, 4, 13, tzinfo=UTC),
    )
    assert local(busy) == [("2026-12-03 00:00+01", "2026-12-05 00:00+01")]
    assert (
        busy_from_ics(
            fixture("all_day_multi.ics"),
            BERLIN,
            datetime(2026, 12, 5, tzinfo=UTC),
            datetime(2026, 12, 7, tzinfo=UTC),
        )
        == []
    )


def test_merge_busy_joins_overlapping_and_touching_and_drops_empty():
    t = datetime(2026, 12, 1, 8, tzinfo=UTC)
    h = timedelta(hours=1)
    merged = merge_busy(
        [
            Busy(t + 3 * h, t + 4 * h),
            Busy(t, t + h),
            Busy(t + h, t + 2 * h),
            Busy(t + 5 * h, t + 5 * h),
            Busy(t + 30 * timedelta(minutes=1), t + h),
        ]
    )
    assert merged == [Busy(t, t + 2 * h), Busy(t + 3 * h, t + 4 * h)]


def test_read_busy_merges_several_calendars(tmp_path: Path):
    sources = [
        file_source("work", CALENDARS / "moved_instance.ics"),
        file_source("private", CALENDARS / "floating.ics"),
    ]
    busy = read_busy(
        sources, BERLIN, datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
    )
    assert local(busy) == [
        ("2026-12-01 09:00+01", "2026-12-01 10:30+01"),
        ("2026-12-01 14:00+01", "2026-12-01 15:30+01"),
    ]
    assert all(b.start.tzinfo is UTC and b.end.tzinfo is UTC for b in busy)


def test_describe_calendar_names_zones_events_and_the_next_busy_time():
    info = describe_calendar(
        fixture("google_x_wr_timezone.ics"),
        BERLIN,
        datetime(2026, 10, 20, tzinfo=UTC),
        datetime(2026, 11, 20, tzinfo=UTC),
        name="Arbeit",
    )
    assert (info.name, info.events, info.busy) == ("Arbeit", 1, 2)
    assert info.timezones[0] == "Europe/Berlin"
    assert info.next_busy is not None
    assert local([info.next_busy]) == [("2026-10-26 10:00+01", "2026-10-26 11:00+01")]
    outlook = describe_calendar(fixture("outlook_windows_tz.ics"), BERLIN, *YEAR_2026, name="o")
    assert outlook.timezones == ("W. Europe Standard Time",)
    assert outlook.events == 2


@pytest.mark.parametrize(
    "name, zones, utc, floating",
    [
        # No VTIMEZONE at all, yet every time was read right: the check must say how.
        (
            "windows_tz_without_vtimezone.ics",
            (("Pacific Standard Time", "Windows name for America/Los_Angeles"),),
            False,
            False,
        ),
        ("outlook_windows_tz.ics", (("W. Europe Standard Time", "VTIMEZONE in the file"),),
         False, False),
        (
            "fastmail_dst_week_berlin_and_new_york.ics",
            (("Europe/Berlin", "VTIMEZONE in the file"), ("America/New_York", "IANA time zone")),
            False,
            False,
        ),
        ("floating.ics", (), False, True),
        ("google_x_wr_timezone.ics", (), True, False),
    ],
)
def test_describe_calendar_says_how_each_time_zone_was_resolved(name, zones, utc, floating):
    info = describe_calendar(fixture(name), BERLIN, *YEAR_2026, name=name)
    assert (info.zones, info.utc, info.floating) == (zones, utc, floating)


# --------------------------------------------------------------------------
# A calendar that cannot be read is an error, never free time


def test_malformed_calendar_fails_with_its_name():
    with pytest.raises(CalendarError) as caught:
        busy_from_ics(fixture("malformed.ics"), BERLIN, *YEAR_2026, name="Arbeit")
    assert caught.value.calendar == "Arbeit"
    assert "calendar 'Arbeit'" in caught.value.format_message()
    assert "2026-12-01 09:00" in caught.value.format_message()  # what is wrong


@pytest.mark.parametrize(
    "body, hint",
    [
        (b"<!DOCTYPE html><html><body>Please sign in</body></html>", "HTML page"),
        (b"", "BEGIN:VCALENDAR"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261201T090000Z\r\n", "cut short"),
    ],
)
def test_not_a_calendar_fails(body: bytes, hint: str):
    with pytest.raises(CalendarError, match=hint) as caught:
        busy_from_ics(body, BERLIN, *YEAR_2026, name="Arbeit")
    assert caught.value.calendar == "Arbeit"


def test_read_busy_fails_for_a_missing_file_and_names_the_calendar(tmp_path: Path):
    sources = [
        file_source("work", CALENDARS / "floating.ics"),
        file_source("private", tmp_path / "gone.ics"),
    ]
    with pytest.raises(CalendarError, match="file not found") as caught:
        read_busy(sources, BERLIN, *YEAR_2026)
    assert caught.value.calendar == "private"


def test_read_busy_lets_a_missing_environment_variable_through():
    source = CalendarSource(
        name="secret", kind="url", location=Secret(None, env="CAL_URL", field="calendars.source")
    )
    with pytest.raises(ConfigError, match="CAL_URL"):
        read_busy([source], BERLIN, *YEAR_2026)


def test_a_file_over_the_size_limit_fails(tmp_path: Path):
    with pytest.raises(CalendarError, match="limit"):
        read_busy(
            [file_source("big", CALENDARS / "floating.ics")], BERLIN, *YEAR_2026, max_bytes=100
        )


# --------------------------------------------------------------------------
# The pre-filter skips events outside the window, and changes no answer


WINDOWS = [
    (datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)),
    (datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC)),
    (datetime(2026, 11, 30, 8, tzinfo=UTC), datetime(2026, 12, 14, 8, tzinfo=UTC)),
    (datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)),
    (datetime(2027, 3, 27, tzinfo=UTC), datetime(2027, 3, 29, tzinfo=UTC)),
]
# The fixtures whose read stops with a message (tests/test_malformed.py).
UNREADABLE = {
    "malformed.ics",
    "date_with_month_13.ics",
    "rrule_unparsable_byday.ics",
    "tzid_names_no_zone.ics",
}
READABLE = sorted(p.name for p in CALENDARS.glob("*.ics") if p.name not in UNREADABLE)


@pytest.mark.parametrize("name", READABLE)
def test_prefilter_gives_the_same_busy_time_as_a_full_parse(name: str):
    data = fixture(name)
    for start, end in WINDOWS:
        full = calendars._busy(data, BERLIN, start, end, name=name, prefilter=False)
        assert busy_from_ics(data, BERLIN, start, end, name=name) == full, (start, end)


def test_prefilter_on_a_generated_calendar_skips_most_events_and_changes_nothing():
    now = datetime(2026, 11, 30, 8, tzinfo=UTC)
    data = generate_calendar(2_000, seed=7, now=now)
    start, end = now, now + timedelta(days=14)
    kept = filter_events(data, start, end)
    assert kept.skipped > kept.events // 2
    full = calendars._busy(data, BERLIN, start, end, name="gen", prefilter=False)
    assert full  # the generated diary has meetings in the window
    assert busy_from_ics(data, BERLIN, start, end, name="gen") == full
    day = (now + timedelta(days=3), now + timedelta(days=4))
    assert busy_from_ics(data, BERLIN, *day, name="gen") == calendars._busy(
        data, BERLIN, *day, name="gen", prefilter=False
    )


def test_prefilter_keeps_single_events_that_share_a_uid_with_a_series():
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
        b"BEGIN:VEVENT\r\nUID:s\r\nDTSTART:20201201T090000Z\r\nDTEND:20201201T100000Z\r\n"
        b"END:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID:20201201T090000Z\r\n"
        b"DTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:old\r\nDTSTART:20201201T090000Z\r\nDTEND:20201201T100000Z\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    kept = filter_events(data, *YEAR_2026)
    assert (
        kept.skipped == 1 and b"UID:old" not in kept.data and b"UID:s\r\nDTSTART:2020" in kept.data
    )


# --------------------------------------------------------------------------
# The cache of derived busy time


def test_cache_serves_a_later_window_and_a_changed_calendar_is_read_again(tmp_path: Path):
    cal = tmp_path / "cal.ics"
    cal.write_bytes(fixture("moved_instance.ics"))
    cache = tmp_path / "cache"
    source = [file_source("work", cal)]
    start = datetime(2026, 11, 29, tzinfo=UTC)
    first = read_busy(source, BERLIN, start, start + timedelta(days=9), cache_dir=cache)
    assert len(list((cache / "busy").glob("*.json"))) == 1
    # A build a day later asks for a window inside the cached one: the same answer
    # as without the cache.
    later = (start + timedelta(days=1), start + timedelta(days=10))
    assert read_busy(source, BERLIN, *later, cache_dir=cache) == read_busy(source, BERLIN, *later)
    assert read_busy(source, BERLIN, start, start + timedelta(days=9), cache_dir=cache) == first
    # The owner moves the meeting again: the new bytes are read, not the cache.
    cal.write_bytes(
        fixture("moved_instance.ics")
        .replace(b"20261201T140000", b"20261202T140000")
        .replace(b"20261201T153000", b"20261202T153000")
    )
    moved = read_busy(source, BERLIN, start, start + timedelta(days=9), cache_dir=cache)
    assert ("2026-12-02 14:00+01", "2026-12-02 15:30+01") in local(moved)
    assert ("2026-12-01 14:00+01", "2026-12-01 15:30+01") not in local(moved)


def test_a_feed_that_only_restamps_its_events_is_served_from_the_cache(tmp_path: Path):
    # Google sets every DTSTAMP to the time of the download.
    cal = tmp_path / "google.ics"
    source = [file_source("google", cal)]
    cache = tmp_path / "cache"
    results = []
    for stamp in (b"20261129T080000Z", b"20261130T080000Z"):
        cal.write_bytes(fixture("google_x_wr_timezone.ics").replace(b"20260101T000000Z", stamp))
        results.append(read_busy(source, BERLIN, *YEAR_2026, cache_dir=cache))
    assert results[0] == results[1] and results[0]
    assert len(list((cache / "busy").glob("*.json"))) == 1
    assert busycache.content_key(cal.read_bytes()) != busycache.content_key(
        cal.read_bytes().replace(b"DTSTART:20261019", b"DTSTART:20261020")
    )


def test_a_damaged_cache_is_ignored(tmp_path: Path):
    cache = tmp_path / "cache"
    source = [file_source("work", CALENDARS / "floating.ics")]
    expected = read_busy(source, BERLIN, *YEAR_2026, cache_dir=cache)
    for entry in (cache / "busy").glob("*.json"):
        entry.write_text("{not json")
    assert read_busy(source, BERLIN, *YEAR_2026, cache_dir=cache) == expected
    for entry in (cache / "busy").glob("*.json"):
        entry.write_text('{"version": 1, "tz": "Europe/Berlin"}')
    assert read_busy(source, BERLIN, *YEAR_2026, cache_dir=cache) == expected


def test_cache_keeps_a_bounded_number_of_entries(tmp_path: Path):
    cache = tmp_path / "cache"
    cal = tmp_path / "feed.ics"
    for i in range(busycache.ENTRIES + 5):
        # A feed whose bytes change on every fetch (a fresh DTSTAMP, say).
        cal.write_bytes(fixture("floating.ics").replace(b"PRODID:", f"X-N:{i}\r\nPRODID:".encode()))
        read_busy([file_source("feed", cal)], BERLIN, *YEAR_2026, cache_dir=cache)
    assert len(list((cache / "busy").glob("*.json"))) <= busycache.ENTRIES


def test_cache_is_per_owner_zone(tmp_path: Path):
    cache = tmp_path / "cache"
    source = [file_source("private", CALENDARS / "floating.ics")]
    berlin = read_busy(source, BERLIN, *YEAR_2026, cache_dir=cache)
    tokyo = read_busy(source, ZoneInfo("Asia/Tokyo"), *YEAR_2026, cache_dir=cache)
    assert berlin != tokyo


def test_window_must_be_aware_and_ordered():
    with pytest.raises(ValueError):
        busy_from_ics(fixture("floating.ics"), BERLIN, datetime(2026, 1, 1), datetime(2027, 1, 1))
    with pytest.raises(ValueError):
        busy_from_ics(fixture("floating.ics"), BERLIN, YEAR_2026[1], YEAR_2026[0])


# --------------------------------------------------------------------------
# Property: on any mix of events, skipping changes no busy time

_ZONES = ["Z", ";TZID=Europe/Berlin", ";TZID=America/New_York", ";TZID=Asia/Tokyo", ""]


def _stamp(moment: datetime, zone: str) -> str:
    text = moment.strftime("%Y%m%dT%H%M%S")
    return f"{zone}:{text}" if zone != "Z" else f":{text}Z"


@st.composite
def _event(draw: st.DrawFn, uid: int) -> str:
    base = datetime(2026, 11, 30)
    start = base + timedelta(minutes=draw(st.integers(-60 * 24 * 20, 60 * 24 * 20)) // 15 * 15)
    lines = ["BEGIN:VEVENT", f"UID:e{uid}@test", "DTSTAMP:20260101T000000Z"]
    if draw(st.booleans()) and draw(st.booleans()):  # an all-day event
        lines.append(f"DTSTART;VALUE=DATE:{start:%Y%m%d}")
        days = draw(st.integers(0, 3))
        if days:
            lines.append(f"DTEND;VALUE=DATE:{start + timedelta(days=days):%Y%m%d}")
    else:
        zone = draw(st.sampled_from(_ZONES))
        lines.append("DTSTART" + _stamp(start, zone))
        end = draw(st.sampled_from(["DTEND", "DURATION", "none"]))
        length = timedelta(minutes=draw(st.integers(0, 60 * 30)) // 15 * 15)
        if end == "DTEND":
            lines.append("DTEND" + _stamp(start + length, zone))
        elif end == "DURATION":
            lines.append(
                draw(st.sampled_from(["DURATION:PT90M", "DURATION:P1D", "DURATION:PT24H"]))
            )
    if draw(st.integers(0, 5)) == 0:
        lines.append(draw(st.sampled_from(["RRULE:FREQ=DAILY;COUNT=5", "RRULE:FREQ=WEEKLY"])))
    if draw(st.integers(0, 5)) == 0:
        lines.append(draw(st.sampled_from(["TRANSP:TRANSPARENT", "STATUS:CANCELLED"])))
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12).flatmap(lambda n: st.tuples(*[_event(i) for i in range(n)])),
    st.integers(-10, 10),
    st.integers(1, 14),
)
def test_prefilter_never_changes_busy_time(events, offset_days, length_days):
    data = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + "\r\n".join(events) + "\r\nEND:VCALENDAR\r\n"
    ).encode()
    start = datetime(2026, 11, 30, 8, tzinfo=UTC) + timedelta(days=offset_days)
    end = start + timedelta(days=length_days)
    full = calendars._busy(data, BERLIN, start, end, name="h", prefilter=False)
    assert busy_from_ics(data, BERLIN, start, end, name="h") == full
