"""A property: damaging a well-formed calendar never frees time.

Each example takes a well-formed test calendar and damages it one way (swap an
event's start and end, drop its time zone definitions, change a value's type,
cut it at a line, append junk after END:VCALENDAR). The engine must then either
stop with a message in our words, or read busy time that covers all of the
undamaged calendar's: the slots it offers are a subset of the undamaged ones.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_malformed import assert_in_our_words

from generator.busy.calendars import busy_from_ics
from generator.busy.prefilter import unfold
from generator.domain import Busy
from generator.errors import CalendarError

CALENDARS = Path(__file__).resolve().parent / "calendars"
BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
WELL_FORMED = [
    "moved_instance.ics",
    "rdate_exdate.ics",
    "rdate_period.ics",
    "dst_fall_back_berlin.ics",
    "dst_spring_forward_berlin.ics",
    "series_exact_length_dst.ics",
    "fastmail_dst_week_berlin_and_new_york.ics",
    "google_export_overrides_exdates_declined.ics",
    "outlook_windows_tz.ics",
    "all_day_multi.ics",
    "floating.ics",
    "freebusy.ics",
    "this_and_future.ics",
]
MUTATIONS = ("swap", "drop_zones", "dtend_type", "dtstart_type", "exdate_type", "truncate",
             "junk")


def lines_of(name: str) -> list[str]:
    return unfold((CALENDARS / name).read_bytes()).decode("utf-8").splitlines()


def indices(lines: list[str], pattern: str) -> list[int]:
    return [i for i, line in enumerate(lines) if re.match(pattern, line, re.I)]


def event_of(lines: list[str], at: int) -> tuple[int, int]:
    begin = max(i for i in range(at + 1) if lines[i].upper() == "BEGIN:VEVENT")
    end = min(i for i in range(at, len(lines)) if lines[i].upper() == "END:VEVENT")
    return begin, end


def to_date(line: str) -> str:
    """A DATE-TIME property written as a DATE of the same wall date."""
    name, value = line.split(":", 1)
    params = [p for p in name.split(";")[1:] if not p.upper().startswith(("TZID", "VALUE"))]
    dates = ",".join(v[:8] for v in value.split(","))
    return ";".join([name.split(";")[0], *params, "VALUE=DATE"]) + ":" + dates


def mutate(lines: list[str], kind: str, pick: int, junk: str) -> list[str] | None:
    """The damaged calendar's lines, or None when this calendar has nothing to damage so."""
    out = list(lines)
    if kind == "swap":
        ends = [i for i in indices(out, r"DTEND[;:]") if _in_event(out, i)]
        if not ends:
            return None
        end_at = ends[pick % len(ends)]
        begin, stop = event_of(out, end_at)
        (start_at,) = [i for i in range(begin, stop) if re.match(r"DTSTART[;:]", out[i], re.I)]
        s_name, s_value = out[start_at].split(":", 1)
        e_name, e_value = out[end_at].split(":", 1)
        out[start_at] = "DTSTART" + e_name[5:] + ":" + e_value
        out[end_at] = "DTEND" + s_name[7:] + ":" + s_value
    elif kind == "drop_zones":
        if not indices(out, r"BEGIN:VTIMEZONE"):
            return None
        kept, inside = [], False
        for line in out:
            if line.upper() == "BEGIN:VTIMEZONE":
                inside = True
            if not inside:
                kept.append(line)
            if line.upper() == "END:VTIMEZONE":
                inside = False
        out = kept
    elif kind in ("dtend_type", "exdate_type"):
        prop = "DTEND" if kind == "dtend_type" else "EXDATE"
        found = [i for i in indices(out, prop + r"[;:]") if "VALUE=DATE" not in out[i].upper()]
        if not found:
            return None
        at = found[pick % len(found)]
        out[at] = to_date(out[at])
    elif kind == "dtstart_type":
        # Only where a date means the same day for the owner: a start in the owner's zone
        # or floating (a DATE is always the owner's day).
        found = [
            i for i in indices(out, r"DTSTART[;:]")
            if "VALUE=DATE" not in out[i].upper()
            and (";TZID=Europe/Berlin:" in out[i] or re.match(r"DTSTART:\d{8}T\d{6}$", out[i]))
            and _in_event(out, i)
        ]
        if not found:
            return None
        at = found[pick % len(found)]
        out[at] = to_date(out[at])
    elif kind == "truncate":
        out = out[: 1 + pick % (len(out) - 1)]
    elif kind == "junk":
        out += junk.splitlines() or [junk]
    return out


def _in_event(lines: list[str], at: int) -> bool:
    opened = [line.upper() for line in lines[:at] if line.upper().startswith(("BEGIN:", "END:"))]
    return bool(opened) and opened[-1] == "BEGIN:VEVENT"


def covered(inner: list[Busy], outer: list[Busy]) -> bool:
    """Whether every interval of ``inner`` lies inside the union of ``outer`` (both merged)."""
    return all(any(o.start <= i.start and i.end <= o.end for o in outer) for i in inner)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(WELL_FORMED),
    kind=st.sampled_from(MUTATIONS),
    pick=st.integers(min_value=0, max_value=10_000),
    junk=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
        max_size=80,
    ),
)
def test_a_damaged_calendar_stops_or_blocks_at_least_as_much(name, kind, pick, junk) -> None:
    lines = lines_of(name)
    damaged = mutate(lines, kind, pick, junk)
    if damaged is None:
        return
    original = busy_from_ics("\r\n".join(lines).encode() + b"\r\n", BERLIN, *WINDOW, name="A")
    data = "\r\n".join(damaged).encode() + b"\r\n"
    try:
        busy = busy_from_ics(data, BERLIN, *WINDOW, name="A")
    except CalendarError as exc:
        text = exc.format_message()
        assert text.startswith("calendar 'A': ")
        assert_in_our_words(text)
        return
    clipped = [
        Busy(max(b.start, WINDOW[0]), min(b.end, WINDOW[1])) for b in original
    ]
    assert covered(clipped, busy), (kind, [b for b in clipped if not covered([b], busy)])
