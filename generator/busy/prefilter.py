"""Raw iCalendar text -> a smaller calendar: skip events that cannot touch the window.

A calendar feed holds years of past events, yet only the next weeks matter, and
full parsing with icalendar costs far more than a scan of the bytes. This module
works on the raw bytes (unfold lines, find the VEVENT blocks) and drops every
VEVENT that *provably* cannot touch the window, before icalendar sees it:

- a single event: no RRULE, RDATE, EXDATE or RECURRENCE-ID, and its UID is not
  shared with any kept component (so it is no part of a series);
- whose DTSTART is a plain DATE, a UTC time or a local (TZID or floating) time,
  read as if it were UTC: a zone offset is at most about a day, far inside the
  two-day margin;
- whose end (DTEND, or DTSTART + DURATION, or DTSTART + one day for a DATE)
  lies before ``start - 2 days``, or whose start lies after ``end + 2 days``.

Everything else is kept: series, overrides, VTIMEZONE, VFREEBUSY, and any event
the quick scan cannot decide (odd values, repeated properties, unknown
sub-components). Kept events are reduced to the lines that decide busy time
(DTSTART, DTEND, DURATION, RRULE, RDATE, EXDATE, RECURRENCE-ID, UID, SEQUENCE,
STATUS, TRANSP): titles, descriptions, attendees and alarms are most of the
parser's work and never change busy time. A test checks, for every test calendar
and a generated one, that the busy time equals that of a full parse.

It also records each kept event's DURATION as written (``X-CALLSLOT-DURATION``):
icalendar normalises "PT24H" to one day, yet RFC 5545 (3.3.6) makes PT24H 24
exact hours and P1D one calendar day, which differ across a DST change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic

__all__ = [
    "DURATION_MARK",
    "LINE_MARK",
    "MAX_DATES",
    "MAX_EVENTS",
    "FilterResult",
    "OutOfTime",
    "TooLarge",
    "drop_zones",
    "filter_events",
    "parse_duration_text",
    "unfold",
]

DURATION_MARK = "X-CALLSLOT-DURATION"
LINE_MARK = "X-CALLSLOT-LINE"  # the line of the event's BEGIN:VEVENT in the file as read
MARGIN = timedelta(days=2)

# Limits checked on the raw text, before the full parse and expansion (which cost
# about 1 ms and 4 KB per event on a shared 2-core machine: 200,000 events in the
# window took 69 s and 800 MB). A busy person has a few hundred events in a month,
# so these are far above any real calendar, yet the parse of that many (which no
# deadline can interrupt) still ends within a few seconds.
# Events kept for the full parse (those that may touch the window, every series):
MAX_EVENTS = 5_000
# RDATE and EXDATE values of one event (300,000 took 22 s and 280 MB to parse):
MAX_DATES = 5_000
# The deadline is looked at after this many lines the scan reads.
_DEADLINE_EVERY = 4096


class TooLarge(Exception):
    """The calendar is over a limit: ``what`` ("events" or "dates"), the limit, and where."""

    def __init__(self, what: str, limit: int, *, line: int | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.limit = limit
        self.line = line  # of the event's BEGIN:VEVENT, for "dates"; None when unknown


class OutOfTime(Exception):
    """The deadline passed while the calendar was scanned."""

# One pass over the unfolded text finds every line the decision needs: component
# borders and the few properties read; all other lines are never touched.
_LINE = re.compile(
    rb"^(?:(BEGIN|END):([^\r\n]*?)[ \t]*\r?$"
    rb"|(DTSTART|DTEND|DURATION|UID|RRULE|RDATE|EXDATE|EXRULE|RECURRENCE-ID)([;:][^\r\n]*)"
    # A line that names such a property but is no content line ("DTEND 20261201T10"):
    # the full parse must see it, and stop on it.
    rb"|(?:DTSTART|DTEND|DURATION|RRULE|RDATE|EXDATE|EXRULE|RECURRENCE-ID)[ \t\r\n])",
    re.M | re.I,
)
_SERIES = frozenset((b"RRULE", b"RDATE", b"EXDATE", b"EXRULE", b"RECURRENCE-ID"))
_DATE = re.compile(rb"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z?)?")
_DURATION = re.compile(
    r"([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", re.I
)


@dataclass(frozen=True)
class FilterResult:
    """The calendar text to parse, and how many events were read and skipped."""

    data: bytes
    events: int
    skipped: int


def unfold(data: bytes) -> bytes:
    """Join folded content lines (RFC 5545 3.1): a line break followed by one space or tab."""
    # bytes.replace runs at memory speed, a regex substitution ten times slower.
    for fold in (b"\r\n ", b"\r\n\t", b"\n ", b"\n\t"):
        if fold in data:
            data = data.replace(fold, b"")
    return data


def parse_duration_text(text: str) -> tuple[int, timedelta] | None:
    """A DURATION value as (nominal days, exact time); None when it is not one.

    Weeks and days are nominal (calendar days), hours, minutes and seconds exact
    (RFC 5545 3.3.6); a negative duration negates both parts.
    """
    match = _DURATION.fullmatch(text.strip())
    if not match:
        return None
    sign, weeks, days, hours, minutes, seconds = match.groups()
    if not any((weeks, days, hours, minutes, seconds)):
        return None
    nominal = int(weeks or 0) * 7 + int(days or 0)
    exact = timedelta(hours=int(hours or 0), minutes=int(minutes or 0), seconds=int(seconds or 0))
    if sign == "-":
        return -nominal, -exact
    return nominal, exact


def _value(rest: bytes) -> bytes:
    """The value of a content line's remainder (";params:value" or ":value")."""
    if b'"' not in rest:
        return rest.split(b":", 1)[-1].strip() if b":" in rest else b""
    quoted = False
    for i, char in enumerate(rest):
        if char == 34:  # a quoted parameter value may hold a colon
            quoted = not quoted
        elif char == 58 and not quoted:
            return rest[i + 1 :].strip()
    return b""


def _moment(value: bytes) -> tuple[datetime, bool] | None:
    """A DATE or DATE-TIME value read as UTC (local times too: the margin covers the offset)."""
    match = _DATE.fullmatch(value)
    if not match:
        return None
    y, mo, d, h, mi, s = match.groups()
    try:
        if h is None:
            return datetime(int(y), int(mo), int(d), tzinfo=UTC), True
        return datetime(
            int(y), int(mo), int(d), int(h), int(mi), min(int(s), 59), tzinfo=UTC
        ), False
    except ValueError:
        return None


def _span(props: dict[bytes, bytes]) -> tuple[datetime, datetime] | None:
    """A conservative (start, end) of a single event; None when undecidable.

    Malformed ends widen it, as the reader does (docs/malformed-calendars.md): an
    end before the start or a negative DURATION counts on both sides of the start,
    and a DATE on either side reaches to the end of that day.
    """
    if b"DTSTART" not in props:
        return None
    first = _moment(props[b"DTSTART"])
    if first is None:
        return None
    start, is_date = first
    low = high = start
    if b"DTEND" in props:
        last = _moment(props[b"DTEND"])
        if last is None:
            return None
        length = abs(last[0] - start) + (timedelta(days=1) if last[1] else timedelta(0))
        low, high = start - length, start + length
    elif b"DURATION" in props:
        parsed = parse_duration_text(props[b"DURATION"].decode("ascii", "replace"))
        if parsed is None:
            return None
        length = abs(timedelta(days=parsed[0]) + parsed[1])
        low, high = start - length, start + length
    if is_date:
        high = max(high, start + timedelta(days=1))
    return low, high


# The properties that decide whether and when an event blocks time (and what
# recurring-ical-events reads to pair overrides with their series).
_NEEDED = frozenset(
    (
        b"BEGIN",
        b"END",
        b"UID",
        b"DTSTART",
        b"DTEND",
        b"DURATION",
        b"RRULE",
        b"RDATE",
        b"EXDATE",
        b"EXRULE",
        b"RECURRENCE-ID",
        b"STATUS",
        b"TRANSP",
        b"SEQUENCE",
    )
)
_NAME = re.compile(rb"[^;:\r\n]*")


def _slim(block: bytes) -> bytes:
    """A VEVENT block (without its END line) reduced to the needed lines, alarms dropped."""
    kept: list[bytes] = []
    in_alarm = False
    for line in block.splitlines(keepends=True):
        name = _NAME.match(line).group(0).upper()  # type: ignore[union-attr]
        if name == b"BEGIN" and line[6:12].upper() == b"VALARM":
            in_alarm = True
        elif in_alarm:
            in_alarm = not (name == b"END" and line[4:10].upper() == b"VALARM")
        elif name in _NEEDED:
            kept.append(line)
    return b"".join(kept)


@dataclass
class _Event:
    begin: int  # offset of the BEGIN:VEVENT line
    end: int = 0  # offset after the END:VEVENT line and its line break
    mark_at: int = 0  # offset of the END:VEVENT line, where the DURATION mark goes
    props: dict[bytes, bytes] | None = None
    series: bool = False
    undecidable: bool = False
    dates: int = 0  # RDATE and EXDATE values
    outside: bool = False  # a single event that provably cannot touch the window


def _events(
    data: bytes,
    deadline: float | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> list[_Event]:
    """The VEVENTs of unfolded text, with the properties the filter reads.

    TooLarge when an event has more than MAX_DATES RDATE and EXDATE values (its
    ``line`` is then the event's number among the VEVENTs, from 0), or, with a
    ``window`` (low, high), as soon as more than MAX_EVENTS events are certain to
    be kept: a calendar of 200,000 events in the window stops after 10,000 of them
    are scanned. OutOfTime when ``deadline`` (time.monotonic()) passes.
    """
    kept = 0  # events that are kept whatever their UID shares (see filter_events)
    events: list[_Event] = []
    current: _Event | None = None
    nested = 0  # depth of sub-components (alarms) inside the current event
    for count, match in enumerate(_LINE.finditer(data)):
        if deadline is not None and count % _DEADLINE_EVERY == 0 and monotonic() > deadline:
            raise OutOfTime
        border, component, name, rest = match.groups()
        if border is None and name is None:  # a mangled line naming a deciding property
            if current is not None:
                current.undecidable = True
            continue
        if border is not None:
            kind = component.upper()
            if current is None:
                if border.upper() == b"BEGIN" and kind == b"VEVENT":
                    current = _Event(begin=match.start(), props={})
            elif border.upper() == b"BEGIN":
                nested += 1
                if kind != b"VALARM":
                    current.undecidable = True
            elif nested:
                nested -= 1
            elif kind == b"VEVENT":
                current.mark_at = match.start()
                stop = match.end()
                if data[stop : stop + 2] == b"\r\n":
                    stop += 2
                elif data[stop : stop + 1] == b"\n":
                    stop += 1
                current.end = stop
                events.append(current)
                if window is not None:
                    assert current.props is not None
                    span = None if current.series or current.undecidable else _span(
                        current.props
                    )
                    current.outside = span is not None and (
                        span[1] < window[0] or span[0] > window[1]
                    )
                    kept += not current.outside
                    if kept > MAX_EVENTS:
                        raise TooLarge("events", MAX_EVENTS)
                current = None
            else:
                current.undecidable = True  # an END that closes nothing we know
            continue
        if current is None or nested:
            continue  # a property of the calendar, a time zone or an alarm
        key = name.upper()
        if key in _SERIES:
            current.series = True
            if key in (b"RDATE", b"EXDATE"):
                current.dates += rest.count(b",") + 1
                if current.dates > MAX_DATES:
                    raise TooLarge("dates", MAX_DATES, line=len(events))
            continue
        assert current.props is not None
        if key in current.props:
            current.undecidable = True  # a repeated property: leave it to the full parse
        current.props[key] = _value(rest)
    return events


def filter_events(
    data: bytes,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    deadline: float | None = None,
) -> FilterResult:
    """The calendar with every VEVENT that cannot touch [start, end) removed.

    Without a window nothing is skipped (the full-parse path, same annotations).
    Every kept event is marked with the line it begins on (for messages), and a
    reversed VFREEBUSY period is turned round (the parser refuses it whole).

    TooLarge when an event has more than MAX_DATES RDATE/EXDATE values, or (with a
    window) more than MAX_EVENTS events are kept; OutOfTime when ``deadline``
    (time.monotonic()) passes during the scan.
    """
    lines = _begin_lines(data)
    data = unfold(data)
    if data.count(b"BEGIN:VTIMEZONE") > _FEW_ZONES:
        data = _drop_unused_zones(data)
    if _FREEBUSY.search(data):
        data = _FREEBUSY.sub(_turn_periods, data)
    window = (start - MARGIN, end + MARGIN) if start is not None and end is not None else None
    try:
        events = _events(data, deadline, window)
    except TooLarge as exc:
        # The event's number among the VEVENTs -> its line in the file, when known.
        index = exc.line if exc.line is not None else -1
        exc.line = lines[index] if 0 <= index < len(lines) else None
        raise
    if len(lines) != len(events):  # folding split a BEGIN line: no line numbers then
        lines = []
    skip: set[int] = set()
    if window is not None:
        candidates: dict[int, bytes | None] = {}
        kept_uids: set[bytes] = set()
        for i, event in enumerate(events):
            assert event.props is not None
            uid = event.props.get(b"UID")
            if event.outside:
                candidates[i] = uid
            elif uid is not None:
                kept_uids.add(uid)
        # A single event sharing its UID with a kept component may belong to it.
        skip = {i for i, uid in candidates.items() if uid is None or uid not in kept_uids}
        if len(events) - len(skip) > MAX_EVENTS:
            raise TooLarge("events", MAX_EVENTS)
    if deadline is not None and monotonic() > deadline:
        raise OutOfTime
    parts: list[bytes] = []
    pos = 0
    for i, event in enumerate(events):
        assert event.props is not None
        parts.append(data[pos : event.begin])
        pos = event.end
        if i in skip:
            continue
        block = data[event.begin : event.mark_at]
        if window is not None and not event.undecidable:
            # Only the lines that decide busy time go to the full parser: titles,
            # descriptions, attendees and alarms cost most of its time.
            block = _slim(block)
        eol = b"\r\n" if block.endswith(b"\r\n") else b"\n"
        parts.append(block)
        if lines:
            parts.append(LINE_MARK.encode() + b":" + str(lines[i]).encode() + eol)
        if b"DURATION" in event.props:
            # Keep the DURATION as written: icalendar turns PT24H into one day.
            parts.append(DURATION_MARK.encode() + b":" + event.props[b"DURATION"] + eol)
        parts.append(data[event.mark_at : event.end])
    parts.append(data[pos:])
    return FilterResult(b"".join(parts), len(events), len(skip))


def _begin_lines(data: bytes) -> list[int]:
    """The line number (from 1, folded lines counted) of each BEGIN:VEVENT, in order.

    A plain search (the upper-case spelling every exporter writes): a case-blind
    regex over 40 MB takes seconds. A count that differs from the parsed events'
    only costs the line numbers in messages.
    """
    found = []
    line, pos = 1, 0
    at = data.find(b"BEGIN:VEVENT")
    while at >= 0:
        if at == 0 or data[at - 1] == 10:  # at the start of a line
            line += data.count(b"\n", pos, at)
            pos = at
            found.append(line)
        at = data.find(b"BEGIN:VEVENT", at + 12)
    return found


_FREEBUSY = re.compile(rb"^(FREEBUSY(?:;[^:\r\n]*)?:)([^\r\n]*)", re.M | re.I)


def _turn_periods(match: re.Match[bytes]) -> bytes:
    """A FREEBUSY line with each reversed "start/end" period written the right way round."""
    periods = []
    for period in match.group(2).split(b","):
        first, _, second = period.partition(b"/")
        a, b = _moment(first.strip()), _moment(second.strip())
        if a is not None and b is not None and b[0] < a[0]:
            period = second.strip() + b"/" + first.strip()
        periods.append(period)
    return match.group(1) + b",".join(periods)


# More time zones than a calendar app writes: only those an event names are parsed
# (a file of 100,000 VTIMEZONEs took 51 s and 640 MB to parse whole).
_FEW_ZONES = 50
_TZID_PARAM = re.compile(rb";TZID=(\"[^\"\r\n]*\"|[^;:\r\n]*)")


def _drop_unused_zones(data: bytes) -> bytes:
    """The calendar without the VTIMEZONEs that no property names in a TZID parameter."""
    return drop_zones(data, keep={m.group(1).strip(b'"') for m in _TZID_PARAM.finditer(data)})


def drop_zones(data: bytes, *, keep: set[bytes]) -> bytes:
    """Unfolded calendar text without its VTIMEZONE blocks, except those whose TZID is kept."""
    used = keep
    parts: list[bytes] = []
    pos = 0
    begin = data.find(b"BEGIN:VTIMEZONE")
    while begin >= 0:
        end = data.find(b"END:VTIMEZONE", begin)
        if end < 0:
            break  # a cut zone: left for the parser to refuse
        stop = data.find(b"\n", end)
        stop = len(data) if stop < 0 else stop + 1
        block = data[begin:stop]
        at = block.find(b"\nTZID")
        name = b""
        if at >= 0:
            line_end = block.find(b"\n", at + 1)
            name = block[at + 1 : line_end].rsplit(b":", 1)[-1].strip().strip(b'"')
        parts.append(data[pos:begin])
        if name in used:
            parts.append(block)
        pos = stop
        begin = data.find(b"BEGIN:VTIMEZONE", pos)
    parts.append(data[pos:])
    return b"".join(parts)
