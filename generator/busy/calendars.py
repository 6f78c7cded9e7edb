"""Calendars -> busy intervals: read ICS files and URLs, expand recurrences, merge in UTC.

Semantics (RFC 5545): RRULE, RDATE, EXDATE and RECURRENCE-ID overrides (also
RANGE=THISANDFUTURE) are expanded by recurring-ical-events; Google exports are
normalised with x-wr-timezone; TRANSP:TRANSPARENT and STATUS:CANCELLED events
block nothing, every other status (TENTATIVE too: the safer answer) blocks;
all-day events block the owner's whole local days; floating times are the
owner's local time; VFREEBUSY periods block unless FBTYPE=FREE; Outlook's
Windows zone names work (icalendar maps them, or uses the file's VTIMEZONE).
An event without DTEND and DURATION lasts one day when it starts on a DATE and
no time at all when it starts at a DATE-TIME: such an instant (or a zero length)
still blocks the slot that holds it (the owner has something at that moment).
Malformed data is read the widest way or stops the read with a message naming
the event (:mod:`.policy`, docs/malformed-calendars.md); recurrences are
expanded within a budget (:mod:`.expansion`).

Where the library answers differently from the RFC, and the difference would
offer a busy slot, we compute the time ourselves (each case has a test):

- Every instance of a series lasts exactly as long as the first one when the
  length comes from DTEND (3.8.5.3). The library adds the wall-clock difference,
  so across a spring-forward change an instance lost an hour. Where the wall-clock
  length is the longer one (the first instance spans a spring-forward change, or
  a later one a fall-back change), calendar apps show that, so it blocks too.
- DURATION: weeks and days are nominal, hours/minutes/seconds exact (3.3.6).
  icalendar reads "PT24H" as one day (the text is kept by :mod:`.icstext`), and
  the library adds every duration on the wall clock: PT24H across a DST change
  must be 24 real hours, P1D one calendar day.
- An override (RECURRENCE-ID) without DTEND or DURATION keeps its series' length
  (the library makes it an instant); some clients write only what they changed.
- A local time inside a DST gap takes the offset from before the gap, an
  ambiguous one the first occurrence (3.3.5). zoneinfo already does so; the
  zones icalendar builds from a custom VTIMEZONE (dateutil) take the offset
  after the gap, an hour early. :func:`_utc` resolves every local time by the RFC.
- A TZID that is neither defined by a VTIMEZONE nor a known zone name fails:
  icalendar would silently read it as floating time.

Speed: :mod:`.icstext` drops, before parsing, every event that provably cannot
touch the window, and with ``cache_dir`` the busy time derived from a calendar is
kept, keyed by a hash of its content (DTSTAMP left out: Google restamps every
download) and valid for any window inside the one it was derived for (a cold read
covers a week more than asked, so the next days' builds hit it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from time import monotonic as _monotonic
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from generator.busy import cache as busycache
from generator.busy.expansion import MAX_TIMEZONES, expand, skip_ahead
from generator.busy.policy import check_readable, event_error, widen
from generator.busy.prefilter import (
    DURATION_MARK,
    MAX_DATES,
    MAX_EVENTS,
    OutOfTime,
    TooLarge,
    drop_zones,
    filter_events,
    parse_duration_text,
    unfold,
)
from generator.config.settings import CalendarSource
from generator.domain import Busy
from generator.errors import CalendarError

if TYPE_CHECKING:  # the parsers load only where a calendar is read: the handler starts fast
    import icalendar

    from generator.busy.progress import FetchProgress

__all__ = [
    "FETCH_SECONDS",
    "MAX_BYTES",
    "Busy",
    "CalendarInfo",
    "busy_from_ics",
    "describe_calendar",
    "fetch_calendar",
    "merge_busy",
    "read_busy",
]

# How long one calendar download may take, all of it (connect, headers, every read):
# a 42 MB feed arrives gzipped in a few seconds, and a stranger's slow server must
# not hold a build (or the hostile-calendar budget of 10 s) longer.
FETCH_SECONDS = 7.0
# The largest calendar read: a 50,000-event feed (three busy years) is about 42 MB.
MAX_BYTES = 64_000_000
# The library is asked for a wider window than ours: its instance ends can be
# off by a DST hour or two, and we compute the true ones.
_QUERY_MARGIN = timedelta(days=2)
_SPAN_MARK = "X-CALLSLOT-SPAN"
_PERIODS_MARK = "X-CALLSLOT-PERIODS"
_ZONE_MARK = "X-CALLSLOT-WR-TIMEZONE"  # the X-WR-TIMEZONE, once applied


@dataclass(frozen=True)
class CalendarInfo:
    """What `callslot check` shows about one calendar."""

    name: str
    events: int  # VEVENT components in the calendar, past ones included
    timezones: tuple[str, ...]  # X-WR-TIMEZONE first, then the VTIMEZONE ids
    busy: int  # merged busy intervals in the window
    next_busy: Busy | None  # the first busy interval that ends after the window's start
    # Each TZID the events use and how it was resolved ("VTIMEZONE in the file",
    # "IANA time zone", "Windows name for Europe/Berlin"), and whether times are
    # written in UTC or floating (read in the owner's zone).
    zones: tuple[tuple[str, str], ...] = ()
    utc: bool = False
    floating: bool = False
    calendar_zone: str = ""  # X-WR-TIMEZONE, as written


# --------------------------------------------------------------------------
# Reading the bytes



def _other_ics(path: Path) -> str:
    """ " (did you mean 'calendar.ics'?)" for an .ics file beside a mistyped one; or ""."""
    from generator.config.suggest import did_you_mean

    try:
        names = [p.name for p in path.parent.glob("*.ics")]
    except OSError:
        return ""
    return did_you_mean(path.name, names, cutoff=0.6)


def fetch_calendar(
    source: CalendarSource,
    *,
    timeout: float = FETCH_SECONDS,
    max_bytes: int = MAX_BYTES,
    cache_dir: Path | None = None,
    deadline: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """The calendar's bytes, from its file or URL; CalendarError when it cannot be read.

    A URL is read within ``timeout`` seconds, or by ``deadline`` (time.monotonic())
    when that comes first. With ``cache_dir``, a URL is asked with the validators
    of the last answer, and a 304 answer reuses the bytes stored then.
    """
    if source.kind == "url":
        from generator.busy.fetch import fetch_url  # urllib is only imported where a URL is read

        return fetch_url(
            source.url(),
            name=source.name,
            timeout=timeout,
            max_bytes=max_bytes,
            cache_dir=cache_dir,
            deadline=deadline,
            progress=progress,
        )
    path = source.path()
    shown = "" if source.location.env else f" {path}"
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CalendarError(
                f"the file{shown} is {size:,} bytes, more than the limit of {max_bytes:,}",
                calendar=source.name,
            )
        return path.read_bytes()
    except FileNotFoundError:
        # A path from `callslot slots --calendar` has no settings entry to point at.
        if source.location.field == "--calendar":
            hint = "check the --calendar path"
        elif source.location.file and not source.location.env:
            at = f", line {source.location.line}" if source.location.line else ""
            hint = f"check calendars.source in {source.location.file}{at}{_other_ics(path)}"
        else:
            hint = "check the calendars.source setting"
        raise CalendarError(
            f"file not found:{shown or ' (path from the environment)'}; {hint}",
            calendar=source.name,
        ) from None
    except IsADirectoryError:
        raise CalendarError(
            f"{shown.strip() or 'the path'} is a folder, not an .ics file", calendar=source.name
        ) from None
    except OSError as exc:
        raise CalendarError(
            f"cannot read the file{shown}: {exc.strerror}", calendar=source.name
        ) from None


# --------------------------------------------------------------------------
# Times by the RFC


def _utc(value: datetime | date, tz: ZoneInfo) -> datetime:
    """An iCalendar time in UTC: floating and DATE values are the owner's local time.

    A local time in a DST gap takes the offset from before the gap, an ambiguous
    one the first occurrence (RFC 5545 3.3.5), whatever tzinfo icalendar chose.
    """
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    zone: tzinfo = value.tzinfo or tz
    if zone is UTC or getattr(zone, "key", None) == "UTC":
        return value.replace(tzinfo=UTC)
    wall = value.replace(tzinfo=None, fold=0)
    candidates = set()
    for fold in (0, 1):
        offset = zone.utcoffset(wall.replace(fold=fold, tzinfo=zone))
        if offset is not None:
            candidates.add(offset)
            # The offset in force at the instant this offset names: in a gap the
            # two offsets name instants on either side of the change.
            candidates.add(_offset_at(wall - offset, zone))
    valid = [o for o in candidates if _offset_at(wall - o, zone) == o]
    chosen = max(valid) if valid else min(candidates)
    return (wall - chosen).replace(tzinfo=UTC)


def _offset_at(instant: datetime, zone: tzinfo) -> timedelta:
    local = instant.replace(tzinfo=UTC).astimezone(zone)
    return local.utcoffset() or timedelta(0)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return _utc(datetime.combine(day, time()), tz)


# --------------------------------------------------------------------------
# Parsing and expanding


def _parse(
    data: bytes,
    name: str,
    start: datetime | None,
    end: datetime | None,
    deadline: float | None = None,
) -> tuple[list[icalendar.Calendar], int]:
    """The calendars in ``data`` (events outside the window skipped) and the event count.

    The size limits (:data:`MAX_EVENTS` in the window, :data:`MAX_DATES` per event)
    are checked on the raw text, before the full parse; ``deadline``
    (time.monotonic()) is checked during the scan and after the parse.
    """
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"BEGIN:VCALENDAR"):
        head = data.lstrip()[:200].lower()
        hint = (
            " (an HTML page: a login page or an expired link?)"
            if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head
            else ""
        )
        raise CalendarError(
            f"this is not an iCalendar file{hint}; it must start with BEGIN:VCALENDAR",
            calendar=name,
        )
    data = _complete(data, name)
    try:
        filtered = filter_events(data, start, end, deadline=deadline)
    except TooLarge as exc:
        raise CalendarError(_too_large(exc, start, end), calendar=name) from None
    except OutOfTime:
        raise _out_of_time(name) from None
    zones = filtered.data.count(b"BEGIN:VTIMEZONE")
    if zones > MAX_TIMEZONES:
        raise CalendarError(
            f"its events use {zones:,} time zones (VTIMEZONE); a calendar app writes a few, "
            f"and more than {MAX_TIMEZONES:,} are not read; export the calendar again",
            calendar=name,
        )
    try:
        import icalendar

        calendars = icalendar.Calendar.from_ical(filtered.data, multiple=True)
    except (ValueError, TypeError, KeyError, IndexError):
        raise CalendarError(_structure_problem(data), calendar=name) from None
    if not calendars:
        raise CalendarError(
            "holds no complete VCALENDAR (cut short? END:VCALENDAR is missing)", calendar=name
        )
    if deadline is not None and time_left(deadline) <= 0:
        raise _out_of_time(name)
    for calendar in calendars:
        check_readable(calendar, name)
    return [_normalise(c, name) for c in calendars], filtered.events


def _too_large(exc: TooLarge, start: datetime | None, end: datetime | None) -> str:
    """What is too big in a calendar, in our words, and what to do."""
    if exc.what == "dates":
        event = f"the event on line {exc.line:,}" if exc.line else "one of its events"
        return (
            f"{event} has more than {MAX_DATES:,} extra or left-out dates (RDATE, EXDATE); "
            f"callslot reads at most that many per event: write the repetition as a rule "
            "(RRULE) or export a smaller calendar"
        )
    days = math.ceil((end - start) / timedelta(days=1)) if start and end else 0
    period = f"in the {days} days read around the booking window" if days else "in it"
    return (
        f"has more than {MAX_EVENTS:,} events {period} (a repeating event counts once); "
        "callslot reads at most that many: export a smaller calendar or check the address"
    )


def _out_of_time(name: str) -> CalendarError:
    return CalendarError(
        "not read in time: it is too large to read within the time allowed; it is not "
        "taken as free; export a smaller calendar or check the address",
        calendar=name,
    )


def _complete(data: bytes, name: str) -> bytes:
    """The calendar up to its last END:VCALENDAR; lines after it that are no calendar are dropped.

    A caching server may append a comment line; a download cut short, or a second
    calendar cut short, still ends the read: its missing events would be free time.
    """
    tail = data.rstrip()
    if tail[-13:].upper() == b"END:VCALENDAR":
        return data  # the usual case, decided without a search
    last = data.upper().rfind(b"END:VCALENDAR")
    while last > 0 and data[last - 1] != 10:  # only at the start of a line
        last = data.upper().rfind(b"END:VCALENDAR", 0, last)
    if last < 0:
        raise CalendarError(
            "is cut short: it does not end with END:VCALENDAR; read it again", calendar=name
        )
    stop = data.find(b"\n", last)
    stop = len(data) if stop < 0 else stop + 1
    if _BORDER.search(data[stop:]):
        raise CalendarError(
            "is cut short: after its last END:VCALENDAR another component begins and never "
            "ends; read it again",
            calendar=name,
        )
    return data[:stop]


_BORDER = re.compile(rb"^[ \t]*(BEGIN|END):", re.M | re.I)


def _structure_problem(data: bytes) -> str:
    """Where the calendar's BEGIN and END lines stop matching, in our words."""
    stack: list[tuple[str, int]] = []
    for number, raw in enumerate(data.splitlines(), 1):
        line = raw.decode("utf-8", "replace").strip()
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            stack.append((upper[6:], number))
        elif upper.startswith("END:"):
            if not stack or stack[-1][0] != upper[4:]:
                opened = f" (BEGIN:{stack[-1][0]} is still open)" if stack else ""
                return (
                    f"cannot be read: line {number} {line!r} ends a component that was never "
                    f"begun{opened}; the file is damaged, export it again"
                )
            stack.pop()
    return (
        "cannot be read as iCalendar: a value in it has the wrong form (a FREEBUSY period, "
        "a date or a time); the file is damaged, export it again"
    )


def _normalise(calendar: icalendar.Calendar, name: str) -> icalendar.Calendar:
    """Google's X-WR-TIMEZONE: UTC times of the file become local (series keep their wall time)."""
    if "X-WR-TIMEZONE" not in calendar:
        return calendar
    import x_wr_timezone
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    written = str(calendar["X-WR-TIMEZONE"]).strip()
    try:
        zone = ZoneInfo(WINDOWS_TO_OLSON.get(written, written))
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise CalendarError(
            f"its X-WR-TIMEZONE {written!r} is not a known time zone; export the calendar "
            "again or ask its provider",
            calendar=name,
        ) from None
    calendar = x_wr_timezone.to_standard(calendar, timezone=zone)
    # recurring-ical-events would apply it again, and fails on a Windows name.
    del calendar["X-WR-TIMEZONE"]
    calendar[_ZONE_MARK] = written
    return calendar


def _span(event: icalendar.cal.Component, tz: ZoneInfo) -> str:
    """How long each instance of this component lasts, by the RFC, as a mark the copies keep.

    "days:N:B" (an all-day event: N local days, and B days before it when its end
    lies before its start), "exact:S" (S real seconds), "nominal:D:S" (D calendar
    days, then S real seconds) or "around:S" (an end before the start or a negative
    duration: S seconds on both sides of the start, the widest reading).
    """
    start = event["DTSTART"].dt
    written = event.get(DURATION_MARK)
    if isinstance(written, list):  # the file had one already: ours comes last
        written = written[-1]
    duration = parse_duration_text(str(written)) if written is not None else None
    if duration is None and "DURATION" in event:
        delta = event["DURATION"].dt
        duration = (delta.days, timedelta(seconds=delta.seconds))
    if not isinstance(start, datetime):  # an all-day event
        days, back = 1, 0
        if "DTEND" in event:
            last = event["DTEND"].dt
            whole = last.date() if isinstance(last, datetime) else last
            # A DATE-TIME end blocks the day it falls in (the widest reading).
            days = (whole - start).days + (isinstance(last, datetime) and last.time() > time())
            if days < 0:
                back, days = -days, 1
        elif duration is not None:
            days = duration[0] + math.ceil(duration[1] / timedelta(days=1))
            if duration[0] < 0 or duration[1] < timedelta(0):
                back = abs(duration[0]) + math.ceil(abs(duration[1]) / timedelta(days=1))
                days = 1
        return f"days:{max(days, 1)}:{back}"
    if "DTEND" in event:
        last = event["DTEND"].dt
        if not isinstance(last, datetime):
            # A DATE end on a timed event: the widest reading takes in that whole day.
            last = datetime.combine(last + timedelta(days=1), time())
        exact = _utc(last, start.tzinfo or tz) - _utc(start, tz)
        if exact < timedelta(0):
            # Each instance of a series may be an hour longer or shorter across a DST
            # change than the first one: the widest reading takes that hour too.
            slack = 3600 if ("RRULE" in event or "RDATE" in event) else 0
            return f"around:{slack - exact.total_seconds():.0f}"
        if last.tzinfo is start.tzinfo:
            # Same zone (or both floating): also keep the wall-clock length, "exact:S:W".
            wall = last.replace(tzinfo=None) - start.replace(tzinfo=None)
            wall = max(wall, timedelta(0))
            return f"exact:{exact.total_seconds():.0f}:{wall.total_seconds():.0f}"
        return f"exact:{exact.total_seconds():.0f}"
    if duration is not None:
        if duration[0] < 0 or duration[1] < timedelta(0):
            # A nominal day may be 25 hours long: the widest reading takes the longer one.
            length = abs(duration[0]) * 86400 + 3600 * bool(duration[0]) + abs(
                duration[1].total_seconds()
            )
            return f"around:{length:.0f}"
        return f"nominal:{duration[0]}:{duration[1].total_seconds():.0f}"
    return "exact:0"


def _mark_spans(calendar: icalendar.Calendar, tz: ZoneInfo, name: str) -> None:
    """Give every VEVENT its span mark, which the library's copies of it keep."""
    events = calendar.walk("VEVENT")
    masters: dict[str, str] = {}
    for event in events:
        if "DTSTART" not in event:
            raise event_error(
                event, "DTSTART", "is missing, so the event has no time; fix or delete it in "
                "the calendar", calendar=name,
            )
        for key in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            _check_zone(event, key, name)
        event[_SPAN_MARK] = _span(event, tz)
        _forward(event)
        periods = _periods(event, tz)
        event.pop(_PERIODS_MARK, None)  # only ever our own mark
        if periods:
            event[_PERIODS_MARK] = periods
        if "RECURRENCE-ID" not in event:
            masters[str(event.get("UID", ""))] = str(event[_SPAN_MARK])
    for event in events:
        # An override that gives no end would be an instant that blocks nothing; the
        # safer reading is that it moves the instance and keeps the series' length.
        if (
            "RECURRENCE-ID" in event
            and "DTEND" not in event
            and "DURATION" not in event
            and isinstance(event["DTSTART"].dt, datetime)
        ):
            inherited = masters.get(str(event.get("UID", "")), "")
            if inherited.startswith(("exact:", "nominal:", "around:")):
                event[_SPAN_MARK] = inherited


def _forward(event: icalendar.cal.Component) -> None:
    """An end before the start, or a negative DURATION, written the right way round.

    The span mark already holds the widest reading; the library would otherwise
    swap the two and lay a series on its DTEND instead of its DTSTART.
    """
    start = event["DTSTART"].dt
    if "DTEND" in event:
        last = event["DTEND"].dt
        if isinstance(start, datetime) != isinstance(last, datetime):
            # A DATE against a DATE-TIME: the library would compare midnight with the
            # time and may swap them (moving the start). The span mark has the reading;
            # the library gets an end of the start's own type after it.
            if isinstance(start, datetime):
                event["DTEND"].dt = datetime.combine(
                    _day(last) + timedelta(days=1), time(), tzinfo=start.tzinfo
                )
            else:
                event["DTEND"].dt = max(_day(last), start) + timedelta(days=1)
            return
        if last < start:
            event["DTEND"].dt = start + (start - last)
            # Read the other way round, the series starts at DTEND: an instance whose
            # DTEND comes before UNTIL belongs to it, though its DTSTART comes after.
            _stretch_until(event, start - last)
    elif "DURATION" in event:
        delta = event["DURATION"].dt
        if delta < timedelta(0):
            event["DURATION"].dt = -delta


def _stretch_until(event: icalendar.cal.Component, by: timedelta) -> None:
    """Move each RRULE's UNTIL ``by`` later (a reversed event's series, see _forward)."""
    rules = event.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        until = rule.get("UNTIL")
        if until:
            rule["UNTIL"] = [moment + by for moment in until]


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _check_zone(event: icalendar.cal.Component, key: str, name: str) -> None:
    """A TZID that neither the calendar (VTIMEZONE) nor the zone database knows is an error.

    icalendar then returns a floating time; reading it as the owner's local time
    would be a guess that can put busy time hours off.
    """
    value = event.get(key)
    if value is None or "TZID" not in value.params:
        return
    moment = value.dt
    if isinstance(moment, datetime) and moment.tzinfo is None:
        raise event_error(
            event,
            key,
            f"uses the time zone {value.params['TZID']!r}, which the calendar does not define "
            "(no VTIMEZONE) and which is no known zone name; export the calendar with its "
            "time zones",
            calendar=name,
        )


def _periods(event: icalendar.cal.Component, tz: ZoneInfo) -> str:
    """RDATE;VALUE=PERIOD instances, each with its own end: "start/end" in UTC, comma-separated."""
    written = event.get("RDATE")
    found = []
    for dates in written if isinstance(written, list) else [written] if written else []:
        for value in dates.dts:
            if not isinstance(value.dt, tuple):
                continue
            begin, until = value.dt
            start = _utc(begin, tz)
            if isinstance(until, timedelta):
                # icalendar no longer tells PT24H from P1D: take the longer reading.
                end = max(start + abs(until), _utc(begin + abs(until), tz))
            else:
                end = _utc(until, tz)
                start, end = min(start, end), max(start, end)
            found.append(f"{start.isoformat()}/{end.isoformat()}")
    return ",".join(found)


def _instance(event: icalendar.cal.Component, tz: ZoneInfo) -> Busy | None:
    """The busy time of one expanded instance, or None when it blocks nothing."""
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return None
    begin = event["DTSTART"].dt
    kind, *numbers = str(event.get(_SPAN_MARK, "exact:0")).split(":")
    if kind == "days":
        day = (
            begin.astimezone(tz).date()
            if isinstance(begin, datetime) and begin.tzinfo
            else begin.date()
            if isinstance(begin, datetime)
            else begin
        )
        back = int(numbers[1]) if len(numbers) > 1 else 0
        start = _local_midnight(day - timedelta(days=back), tz)
        end = _local_midnight(day + timedelta(days=int(numbers[0])), tz)
    elif kind == "around":
        moment = _utc(begin, tz)
        start = moment - timedelta(seconds=int(numbers[0]))
        end = moment + timedelta(seconds=int(numbers[0]))
    elif kind == "nominal":
        start = _utc(begin, tz)
        wall = begin + timedelta(days=int(numbers[0]))  # same tzinfo: wall-clock days
        end = _utc(wall, tz) + timedelta(seconds=int(numbers[1]))
    else:
        start = _utc(begin, tz)
        end = start + timedelta(seconds=int(numbers[0]))
        if len(numbers) > 1:
            # 3.8.5.3 gives every instance the first one's real length, which is an hour
            # short of its wall-clock length when the first spans a spring-forward change
            # (or nothing when it lies in the gap), while calendar apps show each instance
            # with the wall-clock hours. The owner is busy by either reading: block both.
            end = max(end, _utc(begin + timedelta(seconds=int(numbers[1])), tz))
    if _PERIODS_MARK in event:  # an RDATE period lasts as long as it says
        moment = _utc(begin, tz) if isinstance(begin, datetime) else None
        for period in str(event[_PERIODS_MARK]).split(","):
            first, last = period.split("/")
            if datetime.fromisoformat(first) == moment:
                end = max(end, datetime.fromisoformat(last))
    if end <= start:
        # An instant (no end, or a zero length): the owner has something at that moment,
        # so the slot holding it is not offered.
        end = start + _INSTANT
    return Busy(start, end)


_INSTANT = timedelta(seconds=1)


def _freebusy(calendar: icalendar.Calendar, tz: ZoneInfo) -> Iterator[Busy]:
    """The busy periods of VFREEBUSY components (FBTYPE=FREE excepted)."""
    for component in calendar.walk("VFREEBUSY"):
        periods = component.get("FREEBUSY", [])
        for period in periods if isinstance(periods, list) else [periods]:
            fbtype = str(period.params.get("FBTYPE", "BUSY")).upper()
            if fbtype == "FREE":
                continue
            start = _utc(period.start, tz)
            end = start + period.duration if period.by_duration else _utc(period.end, tz)
            # A reversed period blocks from the earlier time to the later one.
            start, end = min(start, end), max(start, end)
            if end > start:
                yield Busy(start, end)


def _expand(
    calendar: icalendar.Calendar,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    name: str,
    deadline: float | None = None,
) -> list[Busy]:
    try:
        _mark_spans(calendar, tz, name)
        extra = [Busy(s, e) for s, e in widen(calendar, tz, name)]
        query_start, query_end = start - _QUERY_MARGIN, end + _QUERY_MARGIN
        longest = _longest(calendar)
        for event in calendar.walk("VEVENT"):
            skip_ahead(event, query_start, longest.get(str(event.get("UID", "")), timedelta(0)))
        instances = expand(calendar, query_start, query_end, name=name, deadline=deadline)
        result = [busy for event in instances if (busy := _instance(event, tz)) is not None]
        result.extend(_freebusy(calendar, tz))
        result.extend(extra)
    except CalendarError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        # icalendar keeps a wrong value as a "broken property" and raises on use; the
        # checks before name the usual ones, this is the last resort (no library text).
        raise CalendarError(
            "cannot read its events: a date, time or repetition rule in it has a form this "
            "reader does not know; run `callslot check` and export the calendar again",
            calendar=name,
        ) from None
    return [b for b in result if b.end > start and b.start < end]


def _longest(calendar: icalendar.Calendar) -> dict[str, timedelta]:
    """The longest an instance of each UID can last (its span marks, widened), for skip-ahead."""
    found: dict[str, timedelta] = {}
    for event in calendar.walk("VEVENT"):
        kind, *numbers = str(event.get(_SPAN_MARK, "exact:0")).split(":")
        if kind == "days":
            length = timedelta(days=sum(int(n) for n in numbers) + 1)
        elif kind == "nominal":
            length = timedelta(days=int(numbers[0]) + 1, seconds=int(numbers[1]))
        else:
            length = timedelta(seconds=max(int(n) for n in numbers) * 2) + timedelta(days=1)
        uid = str(event.get("UID", ""))
        found[uid] = max(found.get(uid, timedelta(0)), length)
    return found


def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the window needs aware datetimes")
    if end <= start:
        raise ValueError("the window must end after it starts")


def busy_from_ics(
    data: bytes,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    name: str = "calendar",
    deadline: float | None = None,
) -> list[Busy]:
    """The merged busy intervals (UTC) of one calendar's bytes that touch [start, end).

    Intervals are not clipped to the window, so a sub-window may reuse them. The
    expansion keeps to its budget, and ends by ``deadline`` (time.monotonic()).
    """
    return _busy(data, tz, start, end, name=name, prefilter=True, deadline=deadline)


def _busy(
    data: bytes,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    name: str,
    prefilter: bool,
    deadline: float | None = None,
) -> list[Busy]:
    _check_window(start, end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    calendars, _ = _parse(
        data, name, start if prefilter else None, end if prefilter else None, deadline
    )
    busy: list[Busy] = []
    for calendar in calendars:
        busy.extend(_expand(calendar, tz, start, end, name, deadline))
    return merge_busy(busy)


def merge_busy(intervals: Iterable[Busy]) -> list[Busy]:
    """Sorted, with overlapping and touching intervals joined; empty ones dropped."""
    merged: list[Busy] = []
    for item in sorted(i for i in intervals if i.end > i.start):
        if merged and item.start <= merged[-1].end:
            if item.end > merged[-1].end:
                merged[-1] = Busy(merged[-1].start, item.end)
        else:
            merged.append(item)
    return merged


def describe_calendar(
    data: bytes, tz: ZoneInfo, start: datetime, end: datetime, *, name: str
) -> CalendarInfo:
    """Events read, the time zones they use and how each is resolved, and the next busy time."""
    _check_window(start, end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    calendars, events = _parse(data, name, start, end)
    zones: list[str] = []
    busy: list[Busy] = []
    calendar_zone = ""
    for calendar in calendars:
        if _ZONE_MARK in calendar:
            zones.append(str(calendar[_ZONE_MARK]))
            calendar_zone = calendar_zone or str(calendar[_ZONE_MARK])
        zones.extend(str(c["TZID"]) for c in calendar.walk("VTIMEZONE") if "TZID" in c)
        busy.extend(_expand(calendar, tz, start, end, name))
    merged = merge_busy(busy)
    upcoming = next((b for b in merged if b.end > start), None)
    text = unfold(data)
    events_only = drop_zones(text, keep=set())  # a VTIMEZONE's own DTSTARTs are floating
    return CalendarInfo(
        name=name,
        events=events,
        timezones=tuple(dict.fromkeys(zones)),
        busy=len(merged),
        next_busy=upcoming,
        zones=_zones_used(text, calendars),
        utc=_UTC_TIME.search(events_only) is not None,
        floating=_FLOATING_TIME.search(events_only) is not None,
        calendar_zone=calendar_zone,
    )


_TZID_PARAM = re.compile(rb"^[A-Z-]+;[^:\r\n]*?TZID=(\"[^\"\r\n]*\"|[^;:\r\n]*)", re.M | re.I)
_UTC_TIME = re.compile(rb"^(?:DTSTART|DTEND)(?:;[^:\r\n]*)?:\d{8}T\d{6}Z", re.M | re.I)
_FLOATING_TIME = re.compile(
    rb"^(?:DTSTART|DTEND)(?:;(?![^:\r\n]*TZID)[^:\r\n]*)?:\d{8}T\d{6}\r?$", re.M | re.I
)


def _zones_used(
    data: bytes, calendars: Sequence[icalendar.Calendar]
) -> tuple[tuple[str, str], ...]:
    """Each TZID the events use, and how it is resolved: VTIMEZONE in the file, IANA or Windows.

    Read from the raw text: the pre-filter skips the events far from the window.
    """
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    defined = {str(z["TZID"]) for c in calendars for z in c.walk("VTIMEZONE") if "TZID" in z}
    found: dict[str, str] = {}
    for match in _TZID_PARAM.finditer(data):
        tzid = match.group(1).decode("utf-8", "replace").strip('"')
        if tzid in found:
            continue
        if tzid in defined:
            found[tzid] = "VTIMEZONE in the file"
        elif _known_zone(tzid):
            found[tzid] = "IANA time zone"
        elif tzid in WINDOWS_TO_OLSON:
            found[tzid] = f"Windows name for {WINDOWS_TO_OLSON[tzid]}"
        else:
            found[tzid] = "not defined and no known name"
    return tuple(found.items())


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return False
    return True


# --------------------------------------------------------------------------
# All calendars, with a cache of what was derived


def read_busy(
    sources: Sequence[CalendarSource],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    cache_dir: Path | None = None,
    timeout: float = FETCH_SECONDS,
    max_bytes: int = MAX_BYTES,
    deadline: float | None = None,
    progress: FetchProgress | None = None,
) -> list[Busy]:
    """Every calendar read (file or URL), expanded in [start, end), merged, sorted, UTC.

    A calendar that cannot be fetched or parsed raises CalendarError naming it:
    it is never taken as free time. Each URL gets ``timeout`` seconds; with
    ``deadline`` (time.monotonic()) all calendars together end by then.
    ``progress`` is told about each URL download.
    """
    _check_window(start, end)
    busy: list[Busy] = []
    for source in sources:
        if deadline is not None and time_left(deadline) <= 0:
            raise CalendarError("not read in time: the calendars before it took all of it",
                                calendar=source.name)
        stamp = None
        if cache_dir is not None and source.kind == "file":
            # An unchanged file whose busy time is stored is not even read.
            path = source.path()
            key = busycache.file_key(cache_dir, path)
            cached = (
                busycache.lookup(cache_dir, key, tz.key, start.astimezone(UTC), end.astimezone(UTC))
                if key
                else None
            )
            if cached is not None:
                busy.extend(Busy(s, e) for s, e in cached)
                continue
            stamp = busycache.file_stamp(path)  # before the read: a write meanwhile is noticed
        data = _fetch_reported(
            source, progress, timeout=timeout, max_bytes=max_bytes, cache_dir=cache_dir,
            deadline=deadline,
        )
        if cache_dir is None:
            busy.extend(busy_from_ics(data, tz, start, end, name=source.name, deadline=deadline))
            continue
        key = busycache.content_key(data)
        busy.extend(
            _cached_busy(
                data, key, tz, start, end, name=source.name, cache_dir=cache_dir,
                deadline=deadline,
            )
        )
        if stamp is not None:
            busycache.remember_file(cache_dir, source.path(), stamp, key)
    return merge_busy(busy)


def _fetch_reported(
    source: CalendarSource, progress: FetchProgress | None, **options: object
) -> bytes:
    if progress is None or source.kind != "url":
        return fetch_calendar(source, **options)  # type: ignore[arg-type]
    progress.begin(source.name)
    ok = False
    try:
        data = fetch_calendar(source, progress=progress.advance, **options)  # type: ignore[arg-type]
        ok = True
        return data
    finally:
        progress.end(ok)


def time_left(deadline: float) -> float:
    """Seconds until ``deadline`` (time.monotonic())."""
    return deadline - _monotonic()


# A cold read covers a week more than asked, so the builds of the next days
# (whose window moved on with the clock) still find their window inside it.
_CACHE_AHEAD = timedelta(days=7)


def _cached_busy(
    data: bytes, key: str, tz: ZoneInfo, start: datetime, end: datetime, *, name: str,
    cache_dir: Path, deadline: float | None = None,
) -> list[Busy]:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    cached = busycache.lookup(cache_dir, key, tz.key, start, end)
    if cached is not None:
        return [Busy(s, e) for s, e in cached]
    wide_end = end + _CACHE_AHEAD
    busy = busy_from_ics(data, tz, start, wide_end, name=name, deadline=deadline)
    busycache.store(cache_dir, key, tz.key, start, wide_end, [(b.start, b.end) for b in busy])
    return [b for b in busy if b.end > start and b.start < end]
