"""Calendars as providers export them -> busy time, checked against hand-computed intervals.

Each fixture in tests/calendars/ is written the way Google, Exchange/Outlook,
iCloud or Fastmail write their feeds (VTIMEZONE blocks, alarms, attendees,
vendor properties, CRLF and folded lines). The expected busy intervals were
worked out by hand from the events, in the owner's zone unless an offset is
given; a wrong answer here offers a slot while the owner is busy, or hides a
free one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from testenv import CALENDARS

from generator.busy.calendars import busy_from_ics, merge_busy
from generator.domain import Busy

# file -> (owner's zone, now, days, busy intervals "start end")
CASES: dict[str, tuple[str, str, int, list[str]]] = {
    # Google: VTIMEZONEs, X-WR-TIMEZONE, EXDATE list, moved and cancelled instances, UTC event,
    # New York event, declined (still blocks), transparent, biweekly COUNT, across midnight,
    # multi-day vacation, yearly transparent birthday, daily UNTIL in UTC.
    "google_export_overrides_exdates_declined.ics": (
        "Europe/Berlin",
        "2026-11-30T07:00Z",
        14,
        [
            "2026-11-30T10:00 2026-11-30T11:00",
            "2026-12-07T14:00 2026-12-07T15:00",
            "2026-12-11T10:00 2026-12-11T11:00",
            "2026-12-01T16:00 2026-12-01T17:00",
            "2026-12-08T00:00 2026-12-09T00:00",
            "2026-12-03T15:00 2026-12-03T16:00",
            "2026-12-10T12:00 2026-12-10T13:00",  # declined but exported
            "2026-12-01T13:00 2026-12-01T13:30",
            "2026-12-03T13:00 2026-12-03T13:30",
            "2026-12-05T22:00 2026-12-06T02:00",
            "2026-12-12T00:00 2026-12-15T00:00",
            "2026-11-30T18:00 2026-11-30T19:00",
            "2026-12-01T18:00 2026-12-01T19:00",
            "2026-12-02T18:00 2026-12-02T19:00",
        ],
    ),
    # Exchange: Windows zone names with VTIMEZONE, a quoted TZID, INTERVAL=2 with BYDAY=MO,WE,FR,
    # EXDATE list, tentative (blocks), free (transparent), a quoted Windows zone without
    # VTIMEZONE.
    "outlook_exchange_windows_zones_quoted_tzid.ics": (
        "Europe/Berlin",
        "2026-11-30T07:00Z",
        14,
        [
            "2026-11-30T09:00 2026-11-30T09:30",
            "2026-12-04T09:00 2026-12-04T09:30",
            "2026-12-01T17:00 2026-12-01T18:00",  # 08:00 PST = 16:00Z
            "2026-12-03T14:00 2026-12-03T15:00",  # tentative blocks (safe)
            "2026-12-07T16:00 2026-12-07T17:00",  # 10:00 EST
        ],
    ),
    # Outlook desktop: a TZID holding commas and parentheses, quoted in every property.
    "outlook_desktop_custom_tzid_with_commas.ics": (
        "Europe/Berlin",
        "2026-11-30T07:00Z",
        28,
        [
            "2026-12-01T10:00 2026-12-01T11:00",
            "2026-12-02T15:00 2026-12-02T15:30",
            "2026-12-16T15:00 2026-12-16T15:30",
            "2026-12-23T15:00 2026-12-23T15:30",
        ],
    ),
    # iCloud: floating times, alarms (one with an absolute trigger), all-day without DTEND,
    # DURATION series with a local (non-UTC) UNTIL, two EXDATE lines.
    "icloud_floating_alarms_local_until.ics": (
        "Europe/Berlin",
        "2026-11-30T07:00Z",
        14,
        [
            "2026-12-02T09:30 2026-12-02T10:30",
            "2026-12-05T00:00 2026-12-06T00:00",
            "2026-12-07T00:00 2026-12-10T00:00",
            "2026-12-03T17:00 2026-12-03T18:30",
            "2026-12-10T17:00 2026-12-10T18:30",
            "2026-11-30T12:00 2026-11-30T13:00",
        ],
    ),
    # The weeks both zones change clocks: New York first (14 March), Berlin on 28 March.
    "fastmail_dst_week_berlin_and_new_york.ics": (
        "Europe/Berlin",
        "2027-03-20T00:00Z",
        12,
        [
            "2027-03-20T09:00 2027-03-20T10:00",
            "2027-03-21T09:00 2027-03-21T10:00",
            "2027-03-22T09:00 2027-03-22T10:00",
            "2027-03-23T09:00 2027-03-23T10:00",
            "2027-03-24T09:00 2027-03-24T10:00",
            "2027-03-25T09:00 2027-03-25T10:00",
            "2027-03-26T09:00 2027-03-26T10:00",
            "2027-03-27T09:00 2027-03-27T10:00",
            "2027-03-28T09:00 2027-03-28T10:00",
            "2027-03-29T09:00 2027-03-29T10:00",
            "2027-03-30T09:00 2027-03-30T10:00",
            "2027-03-31T09:00 2027-03-31T10:00",
            "2027-04-01T09:00 2027-04-01T10:00",
            "2027-04-02T09:00 2027-04-02T10:00",
            "2027-03-22T10:00-04:00 2027-03-22T11:00-04:00",
            "2027-03-29T10:00-04:00 2027-03-29T11:00-04:00",
            "2027-03-27T23:00 2027-03-28T04:00",
            "2027-03-28T01:30Z 2027-03-28T02:00Z",
            "2027-03-28T00:00 2027-03-29T00:00",
            "2027-03-22T20:00 2027-03-22T21:30",
            "2027-03-24T20:00 2027-03-24T21:30",
            "2027-03-26T20:00 2027-03-26T21:30",
        ],
    ),
    # Teams series begun in winter whose UTC UNTIL is exactly its last (summer) instance.
    "outlook_until_is_last_instance_after_dst.ics": (
        "Europe/Berlin",
        "2027-06-14T00:00Z",
        20,
        [
            "2027-06-15T14:00 2027-06-15T15:00",
            "2027-06-29T14:00 2027-06-29T15:00",
        ],
    ),
    # An ended series' instance moved into the window, one moved out, EXDATE in UTC for a
    # local series, RDATE list, an all-day month begun long before, monthly BYDAY rules.
    "window_edges_moved_instances_utc_exdate.ics": (
        "Europe/Berlin",
        "2026-11-29T23:00Z",
        28,
        [
            "2026-12-02T14:00 2026-12-02T16:00",
            "2026-11-30T15:00 2026-11-30T16:00",
            "2026-12-14T15:00 2026-12-14T16:00",
            "2026-11-30T08:00 2026-11-30T08:30",
            "2026-12-03T08:00 2026-12-03T08:30",
            "2026-12-04T08:00 2026-12-04T08:30",
            "2026-11-30T20:00 2026-11-30T20:30",
            "2026-12-03T20:00 2026-12-03T20:30",
            "2026-12-04T21:00 2026-12-04T21:30",
            "2026-11-30T00:00 2026-12-02T00:00",
            "2026-12-07T13:00 2026-12-07T14:00",
            "2026-12-25T16:00 2026-12-25T17:00",
            "2026-12-21T15:00 2026-12-21T16:00",
            "2026-12-02T08:00 2026-12-02T08:30",
        ],
    ),
    # VFREEBUSY with folded period lists, durations, BUSY-UNAVAILABLE and BUSY-TENTATIVE.
    "freebusy_fbtypes_and_durations.ics": (
        "Europe/Berlin",
        "2026-11-30T07:00Z",
        7,
        [
            "2026-11-30T09:00Z 2026-11-30T10:00Z",
            "2026-12-01T08:00Z 2026-12-01T10:00Z",
            "2026-12-02T08:00Z 2026-12-02T09:30Z",
            "2026-12-03T12:00Z 2026-12-03T12:45Z",
        ],
    ),
    # Instances that began days before the window and still block it.
    "long_instances_started_before_window.ics": (
        "Europe/Berlin",
        "2026-12-03T07:00Z",
        7,
        [
            "2026-11-30T00:00 2026-12-07T00:00",
            "2026-11-29T09:00 2026-12-07T11:00",
        ],
    ),
    # Lord Howe Island moves its clocks by half an hour.
    "lord_howe_half_hour_dst.ics": (
        "Australia/Lord_Howe",
        "2026-10-02T00:00Z",
        5,
        [
            "2026-10-03T09:00 2026-10-03T10:00",
            "2026-10-04T09:00 2026-10-04T10:00",
            "2026-10-05T09:00 2026-10-05T10:00",
            "2026-10-06T09:00 2026-10-06T10:00",
            "2026-10-04T01:00 2026-10-04T03:00",
        ],
    ),
}


def _moment(text: str, tz: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)


def _clipped(intervals: list[Busy], start: datetime, end: datetime) -> list[tuple[str, str]]:
    kept = [(max(b.start, start), min(b.end, end)) for b in intervals]
    return [(a.isoformat(), b.isoformat()) for a, b in kept if b > a]


@pytest.mark.parametrize("name", sorted(CASES))
def test_provider_export_gives_exactly_the_busy_time_worked_out_by_hand(name: str) -> None:
    zone, now, days, expected = CASES[name]
    tz = ZoneInfo(zone)
    start = _moment(now, tz)
    end = start + timedelta(days=days)
    busy = busy_from_ics((CALENDARS / name).read_bytes(), tz, start, end, name=name)
    hand = merge_busy(Busy(*(_moment(part, tz) for part in line.split())) for line in expected)
    assert _clipped(busy, start, end) == _clipped(hand, start, end)
