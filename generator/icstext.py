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
the quick scan cannot decide (odd values, repeated properties). The kept text is
byte-for-byte the input minus the skipped blocks, so a full parse of it derives
the same busy time as a full parse of everything.

It also records each kept event's DURATION as written (``X-CALLSLOT-DURATION``):
icalendar normalises "PT24H" to one day, yet RFC 5545 (3.3.6) makes PT24H 24
exact hours and P1D one calendar day, which differ across a DST change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["DURATION_MARK", "FilterResult", "filter_events", "parse_duration_text", "unfold"]

DURATION_MARK = "X-CALLSLOT-DURATION"
MARGIN = timedelta(days=2)

_FOLD = re.compile(rb"\r?\n[ \t]")
_VEVENT = re.compile(rb"^BEGIN:VEVENT[ \t]*\r?$.*?^END:VEVENT[ \t]*\r?$", re.M | re.S | re.I)
_VALARM = re.compile(rb"^BEGIN:VALARM[ \t]*\r?$.*?^END:VALARM[ \t]*\r?$", re.M | re.S | re.I)
_SERIES = re.compile(rb"^(RRULE|RDATE|EXDATE|EXRULE|RECURRENCE-ID)[;:]", re.M | re.I)
_PROP = re.compile(
    rb"^(DTSTART|DTEND|DURATION|UID)((?:;[^\r\n]*?)?):([^\r\n]*?)[ \t]*\r?$", re.M | re.I
)
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
    return _FOLD.sub(b"", data)


def parse_duration_text(text: str) -> tuple[int, timedelta] | None:
    """A DURATION value as (nominal days, exact time); None when it is not one.

    Weeks and days are nominal (calendar days), hours, minutes and seconds exact
    (RFC 5545 3.3.6); a negative duration negates both parts.
    """
    match = _DURATION.fullmatch(text.strip())
    if not match or text.strip().upper() in ("P", "+P", "-P", "PT", "+PT", "-PT"):
        return None
    sign, weeks, days, hours, minutes, seconds = match.groups()
    if not any((weeks, days, hours, minutes, seconds)):
        return None
    nominal = int(weeks or 0) * 7 + int(days or 0)
    exact = timedelta(hours=int(hours or 0), minutes=int(minutes or 0), seconds=int(seconds or 0))
    if sign == "-":
        return -nominal, -exact
    return nominal, exact


def _moment(value: bytes) -> tuple[datetime, bool] | None:
    """A DATE or DATE-TIME value read as UTC (local times too: the margin covers the offset)."""
    match = _DATE.fullmatch(value.strip())
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


def _span(block: bytes) -> tuple[datetime, datetime] | None:
    """A conservative (start, end) of a single event's block; None when undecidable."""
    props: dict[bytes, bytes] = {}
    for match in _PROP.finditer(block):
        name = match.group(1).upper()
        if name in props:
            return None  # a repeated property: leave the judgement to the full parse
        props[name] = match.group(3)
    if b"DTSTART" not in props:
        return None
    first = _moment(props[b"DTSTART"])
    if first is None:
        return None
    start, is_date = first
    if b"DTEND" in props:
        last = _moment(props[b"DTEND"])
        if last is None:
            return None
        end = max(start, last[0])
    elif b"DURATION" in props:
        parsed = parse_duration_text(props[b"DURATION"].decode("ascii", "replace"))
        if parsed is None:
            return None
        end = max(start, start + timedelta(days=parsed[0]) + parsed[1])
    else:
        end = start + timedelta(days=1) if is_date else start
    if is_date:
        end = max(end, start + timedelta(days=1))
    return start, end


def _uid(block: bytes) -> bytes | None:
    for match in _PROP.finditer(block):
        if match.group(1).upper() == b"UID":
            return match.group(3).strip()
    return None


def filter_events(
    data: bytes, start: datetime | None = None, end: datetime | None = None
) -> FilterResult:
    """The calendar with every VEVENT that cannot touch [start, end) removed.

    Without a window nothing is skipped (the full-parse path, same annotations).
    """
    data = unfold(data)
    blocks = list(_VEVENT.finditer(data))
    # Strip alarms before looking at properties: a VALARM has its own DURATION.
    bodies = [_VALARM.sub(b"", m.group(0)) for m in blocks]
    skip: set[int] = set()
    if start is not None and end is not None:
        low, high = start - MARGIN, end + MARGIN
        candidates: dict[int, bytes | None] = {}
        kept_uids: set[bytes] = set()
        for i, body in enumerate(bodies):
            span = None if _SERIES.search(body) else _span(body)
            if span is not None and (span[1] < low or span[0] > high):
                candidates[i] = _uid(body)
            else:
                uid = _uid(body)
                if uid is not None:
                    kept_uids.add(uid)
        # A single event sharing its UID with a kept component may belong to it.
        skip = {i for i, uid in candidates.items() if uid is None or uid not in kept_uids}
    parts: list[bytes] = []
    pos = 0
    for i, match in enumerate(blocks):
        parts.append(data[pos : match.start()])
        pos = match.end()
        if i in skip:
            # Drop the block and the line break that ended it.
            if data[pos : pos + 2] == b"\r\n":
                pos += 2
            elif data[pos : pos + 1] == b"\n":
                pos += 1
            continue
        block = match.group(0)
        if re.search(rb"^DURATION[;:]", bodies[i], re.M | re.I):
            block = _mark_duration_in(block, bodies[i])
        parts.append(block)
    parts.append(data[pos:])
    return FilterResult(b"".join(parts), len(blocks), len(skip))


def _mark_duration_in(block: bytes, body: bytes) -> bytes:
    """Insert the mark before the block's final END:VEVENT (alarms were removed from ``body``)."""
    match = next((m for m in _PROP.finditer(body) if m.group(1).upper() == b"DURATION"), None)
    if match is None:
        return block
    value = match.group(3).strip()
    eol = b"\r\n" if b"\r\n" in block else b"\n"
    cut = block.upper().rfind(b"END:VEVENT")
    return block[:cut] + DURATION_MARK.encode() + b":" + value + eol + block[cut:]
