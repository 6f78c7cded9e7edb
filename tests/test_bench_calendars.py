"""The benchmark calendar generator: deterministic, valid RFC 5545, and every feature present.

The speed figures and the pre-filter equivalence tests rely on these calendars
holding each kind of event a real feed holds; a generator that silently drops
one would make the benchmarks prove nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from bench.calendars import generate_calendar

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def data() -> bytes:
    return generate_calendar(1_000, seed=1, now=NOW)


@pytest.fixture(scope="module")
def events(data: bytes) -> list[icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(data)
    return list(calendar.walk("VEVENT"))


def test_same_seed_gives_the_same_bytes(data: bytes) -> None:
    assert generate_calendar(1_000, seed=1, now=NOW) == data
    assert generate_calendar(1_000, seed=2, now=NOW) != data
    later = generate_calendar(1_000, seed=1, now=NOW + timedelta(days=1))
    assert later != data


def test_icalendar_parses_exactly_the_requested_number_of_events(
    events: list[icalendar.Event],
) -> None:
    assert len(events) == 1_000


@pytest.mark.parametrize("n_events", [10, 137, 2_500])
def test_other_sizes_hold_exactly_that_many_events(n_events: int) -> None:
    data = generate_calendar(n_events, now=NOW)
    assert data.count(b"BEGIN:VEVENT\r\n") == n_events


def test_lines_are_crlf_and_folded_at_75_octets(data: bytes) -> None:
    assert data.endswith(b"END:VCALENDAR\r\n")
    lines = data.split(b"\r\n")[:-1]
    assert b"\n" not in b"".join(lines), "a bare LF: lines must end in CRLF"
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines), "long lines are folded"
    # Folding never splits a UTF-8 character: each physical line decodes on its own.
    for line in lines:
        line.decode("utf-8")


def test_every_event_has_uid_and_dtstamp(events: list[icalendar.Event]) -> None:
    assert all("UID" in e and "DTSTAMP" in e for e in events)


def test_spans_three_years_ending_six_weeks_after_now(events: list[icalendar.Event]) -> None:
    starts = [_as_datetime(e.decoded("DTSTART")) for e in events]
    assert min(starts) < NOW - timedelta(days=2 * 365 + 300)
    assert NOW + timedelta(days=35) < max(starts) <= NOW + timedelta(days=43)
    future = [s for s in starts if NOW <= s < NOW + timedelta(days=14)]
    assert 3 <= len(future) < 100, "a bookable diary: some meetings ahead, not a full one"


def test_holds_each_kind_of_event_a_real_feed_holds(
    data: bytes, events: list[icalendar.Event]
) -> None:
    calendar = icalendar.Calendar.from_ical(data)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]

    singles = [e for e in events if "RRULE" not in e and "RECURRENCE-ID" not in e]
    berlin = [e for e in singles if e["DTSTART"].params.get("TZID") == "Europe/Berlin"]
    assert len(berlin) > 500, "most meetings are in the owner's zone"
    utc = [e for e in singles if _is_utc(e["DTSTART"].dt)]
    assert len(utc) > 50
    all_day = [e for e in singles if type(e["DTSTART"].dt) is date]
    assert len(all_day) > 20
    assert any(str(e.get("TRANSP")) == "TRANSPARENT" for e in singles if e in all_day)
    assert any(str(e.get("TRANSP")) == "OPAQUE" for e in singles if e in all_day)
    assert sum(str(e.get("TRANSP")) == "TRANSPARENT" for e in singles) > 40
    assert sum(str(e.get("STATUS")) == "CANCELLED" for e in singles) > 20
    assert any("DURATION" in e for e in singles)

    masters = {str(e["UID"]): e for e in events if "RRULE" in e}
    freqs = {e["RRULE"]["FREQ"][0] for e in masters.values()}
    assert freqs == {"WEEKLY", "DAILY"}
    assert any("UNTIL" not in e["RRULE"] and "COUNT" not in e["RRULE"] for e in masters.values()), (
        "a series still running"
    )
    assert any("COUNT" in e["RRULE"] for e in masters.values())
    assert sum("EXDATE" in e for e in masters.values()) >= len(masters) // 2

    overrides = [e for e in events if "RECURRENCE-ID" in e]
    assert overrides and all(str(e["UID"]) in masters for e in overrides)
    moved = [e for e in overrides if e.decoded("DTSTART") != e.decoded("RECURRENCE-ID")]
    assert moved, "moved instances"
    assert any(str(e.get("STATUS")) == "CANCELLED" for e in overrides)
    assert any(
        NOW < _as_datetime(e.decoded("RECURRENCE-ID")) < NOW + timedelta(days=42) for e in overrides
    ), "an instance moved inside the booking window"


def test_long_descriptions_with_non_ascii_text(data: bytes, events: list[icalendar.Event]) -> None:
    descriptions = [str(e["DESCRIPTION"]) for e in events if "DESCRIPTION" in e]
    assert len(descriptions) > 100
    assert max(len(d.encode("utf-8")) for d in descriptions) > 1_000
    assert any("Größere" in d and "€" in d for d in descriptions)
    # Escaped TEXT survives the round trip: commas, semicolons, backslashes and newlines.
    assert any("," in d and ";" in d and "\\" in d and "\n" in d for d in descriptions)


def _is_utc(value: object) -> bool:
    return (
        isinstance(value, datetime)
        and value.utcoffset() == timedelta(0)
        and (getattr(value.tzinfo, "key", "UTC") == "UTC" or value.tzinfo is UTC)
    )


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def test_command_line_writes_the_same_bytes(tmp_path: Path, data: bytes) -> None:
    from bench.calendars import main

    out = tmp_path / "cal.ics"
    assert main(["--events", "1000", "--now", "2026-11-30T08:00Z", "--out", str(out)]) == 0
    assert out.read_bytes() == data
