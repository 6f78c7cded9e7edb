"""Malformed calendar data: read it the widest way, or stop with a message naming the event.

Real feeds contain mistakes. The rule (docs/malformed-calendars.md) is that a
mistake never frees time: where a reading exists that blocks at least as much
as every plausible one, that reading is taken; where none does, the build (or
the booking's re-check) stops with a message that names the calendar, the
event's UID, the line it begins on and the property, in our words. This module
applies the rule to a parsed calendar before recurrences are expanded; the raw
pre-filter (:mod:`.prefilter`) widens its quick spans the same way.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from generator.busy.prefilter import LINE_MARK
from generator.errors import CalendarError

if TYPE_CHECKING:
    import icalendar

__all__ = ["check_readable", "event_error", "where", "widen"]

# The properties that decide busy time: a value of one of these that cannot be read stops.
DECIDING = frozenset(
    (
        "DTSTART",
        "DTEND",
        "DURATION",
        "RRULE",
        "RDATE",
        "EXDATE",
        "EXRULE",
        "RECURRENCE-ID",
        "STATUS",
        "TRANSP",
        "UID",
        "FREEBUSY",
        "TZOFFSETFROM",
        "TZOFFSETTO",
        "TZID",
    )
)
_DUPLICATE = "-callslot-copy-"


def where(component: icalendar.cal.Component) -> str:
    """The event as a message names it: its UID and the line it begins on, never its title."""
    kind = {"VEVENT": "event", "VFREEBUSY": "free/busy block", "VTIMEZONE": "time zone"}.get(
        component.name, component.name.lower()
    )
    uid = str(component.get("UID", "")).split(_DUPLICATE)[0]
    if component.name == "VTIMEZONE":
        uid = str(component.get("TZID", ""))
    line = component.get(LINE_MARK)
    at = f"line {line}" if line is not None else ""
    if uid and at:
        return f"the {kind} {uid!r} ({at})"
    if uid:
        return f"the {kind} {uid!r}"
    return f"the {kind} at {at}" if at else f"a {kind} without UID"


def event_error(
    component: icalendar.cal.Component, prop: str | None, what: str, *, calendar: str
) -> CalendarError:
    """A CalendarError that names the calendar, the event, the property and what is wrong."""
    text = f"{prop} {what}" if prop else what
    return CalendarError(f"{where(component)}: {text}", calendar=calendar)


def check_readable(calendar: icalendar.Calendar, name: str) -> None:
    """Stop at a value that decides busy time but cannot be read (icalendar keeps it "broken").

    A line that is no content line at all is stopped for only when it begins with
    such a property's name: broken folding of a long description is common and
    harmless, a mangled DTEND is not.
    """
    for component in calendar.walk():
        if component.name == "VALARM":
            continue
        for prop, text in getattr(component, "errors", ()):
            owner = _event_of(calendar, component)
            if prop is None:
                line = _quoted_line(str(text))
                head = re.split(r"[;:\s]", line.strip(), maxsplit=1)[0].upper()
                if head not in DECIDING:
                    continue
                raise event_error(
                    owner, head, f"line {_short(line)!r} cannot be read (no ':' between the "
                    "name and the value?); fix the line in the calendar", calendar=name
                )
            if prop.upper() not in DECIDING:
                continue
            raise event_error(owner, prop.upper(), _why(component, prop), calendar=name)


def _event_of(
    calendar: icalendar.Calendar, component: icalendar.cal.Component
) -> icalendar.cal.Component:
    """The VEVENT/VFREEBUSY/VTIMEZONE a sub-component (STANDARD, DAYLIGHT) belongs to."""
    if component.name not in ("STANDARD", "DAYLIGHT"):
        return component
    for zone in calendar.walk("VTIMEZONE"):
        if component in zone.subcomponents:
            return zone
    return component


def _why(component: icalendar.cal.Component, prop: str) -> str:
    raw = _raw(component, prop)
    shown = f"{_short(raw)!r} " if raw else ""
    if prop.upper() in ("RRULE", "EXRULE"):
        part = _bad_rule_part(raw)
        return (
            f"{shown}cannot be read{part}; fix the repetition in the calendar app and "
            "export again"
        )
    if prop.upper() == "DURATION":
        return f"{shown}is not a duration (like PT1H or P1D)"
    return (
        f"{shown}is not a valid date or date-time (YYYYMMDD or YYYYMMDDTHHMMSS, with Z for "
        "UTC); fix the event in the calendar app and export again"
    )


def _raw(component: icalendar.cal.Component, prop: str) -> str:
    value = component.get(prop)
    if value is None:
        return ""
    values = value if isinstance(value, list) else [value]
    try:
        text = ",".join(v.to_ical().decode("utf-8", "replace") for v in values)
    except Exception:  # a broken value may not even write itself back; the message goes without
        return ""
    # A broken value is kept as text, which escapes ; and , on the way out.
    return text.replace("\\;", ";").replace("\\,", ",")


_RULE_PARTS = {
    "FREQ": {"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"},
    "BYDAY": None,
    "WKST": {"MO", "TU", "WE", "TH", "FR", "SA", "SU"},
}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_NUMBER_PARTS = {
    "INTERVAL": (1, 10**6),
    "COUNT": (1, 10**9),
    "BYSECOND": (0, 60),
    "BYMINUTE": (0, 59),
    "BYHOUR": (0, 23),
    "BYMONTHDAY": (-31, 31),
    "BYYEARDAY": (-366, 366),
    "BYWEEKNO": (-53, 53),
    "BYMONTH": (1, 12),
    "BYSETPOS": (-366, 366),
}


def _bad_rule_part(rule: str) -> str:
    """Which part of an RRULE value is wrong, in words (" (BYDAY=XX is no weekday)")."""
    for part in rule.split(";"):
        key, _, value = part.partition("=")
        key = key.strip().upper()
        if not value:
            return f" ({part!r} has no value)"
        if key == "FREQ" and value.upper() not in _RULE_PARTS["FREQ"]:
            return f" (FREQ={value} is no frequency)"
        if key == "WKST" and value.upper() not in _WEEKDAYS:
            return f" (WKST={value} is no weekday)"
        if key == "BYDAY":
            for day in value.split(","):
                stripped = day.strip().upper().lstrip("+-0123456789")
                if stripped not in _WEEKDAYS:
                    return f" (BYDAY={value} names no weekday: {day!r})"
        if key in _NUMBER_PARTS:
            low, high = _NUMBER_PARTS[key]
            for number in value.split(","):
                try:
                    if not low <= int(number) <= high:
                        raise ValueError
                except ValueError:
                    return f" ({key}={value}: {number!r} is not a number from {low} to {high})"
        if key == "UNTIL" and not _looks_like_date(value):
            return f" (UNTIL={value} is not a date or date-time)"
        if key not in (*_RULE_PARTS, *_NUMBER_PARTS, "UNTIL") and not key.startswith("X-"):
            return f" ({key} is no part of a repetition rule)"
    return ""


def _looks_like_date(value: str) -> bool:
    from generator.busy.prefilter import _moment

    return _moment(value.strip().encode()) is not None


def _quoted_line(text: str) -> str:
    # icalendar names the line between quotes: "...could not be parsed into parts: 'X': ..."
    first = text.find("'")
    last = text.find("'", first + 1)
    return text[first + 1 : last] if 0 <= first < last else text


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------
# Widening what can be read, so that no reading frees time


def widen(calendar: icalendar.Calendar, tz: object, name: str) -> list[tuple[datetime, datetime]]:
    """Rewrite the calendar to its widest reading; return busy spans the library cannot carry.

    - an EXDATE whose type differs from DTSTART's is dropped (its instance stays busy);
    - an UNTIL of the wrong type or without its zone is moved to the latest moment it
      can mean (the whole UNTIL day; local and UTC readings, whichever is later);
    - series, and overrides of one instance, that share a UID with different data are
      each kept (the library would keep only the one with the highest SEQUENCE);
    - an RDATE of dates on a series of times, and a PERIOD written with dates,
      block the whole local days they name (returned: the library would give them
      the series' length at midnight).
    """
    extra: list[tuple[datetime, datetime]] = []
    for event in calendar.walk("VEVENT"):
        if "DTSTART" not in event:
            continue
        start = event["DTSTART"].dt
        timed = isinstance(start, datetime)
        _drop_mismatched_exdates(event, timed)
        _widen_until(event, start)
        extra.extend(_date_rdates(event, timed, tz))
    _keep_duplicates(calendar)
    _orphan_ranges(calendar)
    return extra


def _drop_mismatched_exdates(event: icalendar.cal.Component, timed: bool) -> None:
    written = event.get("EXDATE")
    if written is None:
        return
    lists = written if isinstance(written, list) else [written]
    kept = []
    for exdates in lists:
        exdates.dts = [d for d in exdates.dts if isinstance(d.dt, datetime) == timed]
        if exdates.dts:
            kept.append(exdates)
    if not kept:
        del event["EXDATE"]
    else:
        event["EXDATE"] = kept if isinstance(written, list) else kept[0]


def _widen_until(event: icalendar.cal.Component, start: date | datetime) -> None:
    rules = event.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        untils = rule.get("UNTIL")
        if not untils:
            continue
        until = untils[0]
        if isinstance(start, datetime):
            if not isinstance(until, datetime):
                # A date: every instance on that day is still meant to happen.
                until = datetime.combine(until, time(23, 59, 59))
            if start.tzinfo is not None and until.tzinfo is None:
                # A local UNTIL on a zoned series: read in the series' zone or as UTC,
                # whichever is later.
                local = until.replace(tzinfo=start.tzinfo).astimezone(UTC)
                until = max(local, until.replace(tzinfo=UTC))
            elif start.tzinfo is None and until.tzinfo is not None:
                # Floating series, UTC UNTIL: the owner's zone is unknown here, and no
                # zone is more than 14 hours off UTC.
                until = until.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=14)
            elif start.tzinfo is not None:
                until = until.astimezone(UTC)
        elif isinstance(until, datetime):
            until = until.date() + timedelta(days=1 if until.time() > time() else 0)
        rule["UNTIL"] = [until]


def _date_rdates(
    event: icalendar.cal.Component, timed: bool, tz: object
) -> list[tuple[datetime, datetime]]:
    from generator.busy.calendars import _local_midnight

    written = event.get("RDATE")
    found = []
    for rdates in written if isinstance(written, list) else [written] if written else []:
        for value in rdates.dts:
            moment = value.dt
            if isinstance(moment, tuple):
                first, last = moment
                if _midnight(first) and isinstance(last, (date, datetime)) and _midnight(last):
                    days = (_day(last) - _day(first)).days
                    found.append(
                        (
                            _local_midnight(_day(first), tz),  # type: ignore[arg-type]
                            _local_midnight(_day(first) + timedelta(days=max(days, 0) + 1), tz),  # type: ignore[arg-type]
                        )
                    )
            elif timed and not isinstance(moment, datetime):
                found.append(
                    (
                        _local_midnight(moment, tz),  # type: ignore[arg-type]
                        _local_midnight(moment + timedelta(days=1), tz),  # type: ignore[arg-type]
                    )
                )
    return found


def _midnight(value: object) -> bool:
    """A PERIOD end that was written as a date (icalendar makes it a floating midnight)."""
    if isinstance(value, datetime):
        return value.tzinfo is None and value.time() == time()
    return isinstance(value, date)


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _keep_duplicates(calendar: icalendar.Calendar) -> None:
    """Give every conflicting copy of a series or an override a UID of its own.

    recurring-ical-events keeps, of several components with one UID (and one
    RECURRENCE-ID), only the one with the highest SEQUENCE; the other's time would
    be free. A copy of an override becomes a single event (it moves nothing).
    """
    groups: dict[tuple[str, str], list[icalendar.cal.Component]] = defaultdict(list)
    for event in calendar.walk("VEVENT"):
        recurrence = event.get("RECURRENCE-ID")
        key = str(recurrence.to_ical() if recurrence is not None else b"")
        groups[(str(event.get("UID", "")), key)].append(event)
    for (uid, recurrence), events in groups.items():
        if len(events) < 2:
            continue
        texts = {_content(e) for e in events}
        if len(texts) < 2:
            continue  # the same event twice: one is enough
        events.sort(key=lambda e: int(str(e.get("SEQUENCE", 0)) or 0), reverse=True)
        for n, other in enumerate(events[1:], 1):
            other["UID"] = f"{uid}{_DUPLICATE}{n}"
            if recurrence:
                for key in ("RECURRENCE-ID", "RRULE", "RDATE", "EXDATE"):
                    other.pop(key, None)


def _orphan_ranges(calendar: icalendar.Calendar) -> None:
    """A RANGE=THISANDFUTURE override whose RECURRENCE-ID is no instance: both readings block.

    The library moves every later instance by the override's shift; a reader that
    ignores the override keeps them where the series puts them; another lays them
    at the override's time from its date on. Copies of the series under UIDs of
    their own keep the last two busy as well.
    """
    masters = {
        str(e.get("UID", "")): e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" not in e
    }
    copied: set[str] = set()
    for event in calendar.walk("VEVENT"):
        recurrence = event.get("RECURRENCE-ID")
        if recurrence is None or str(recurrence.params.get("RANGE", "")).upper() != (
            "THISANDFUTURE"
        ):
            continue
        uid = str(event.get("UID", ""))
        master = masters.get(uid)
        if master is None or uid in copied or _is_instance(master, recurrence.dt):
            continue
        unmoved = copy.deepcopy(master)
        unmoved["UID"] = f"{uid}{_DUPLICATE}unmoved"
        calendar.add_component(unmoved)
        moved = copy.deepcopy(master)
        moved["UID"] = f"{uid}{_DUPLICATE}moved"
        for key in ("DTSTART", "DTEND", "DURATION", "X-CALLSLOT-SPAN"):
            moved.pop(key, None)
            if key in event:
                moved[key] = copy.deepcopy(event[key])
        calendar.add_component(moved)
        copied.add(uid)


def _is_instance(master: icalendar.cal.Component, moment: date | datetime) -> bool:
    """Whether the series ``master`` (alone) has an instance starting at ``moment``."""
    import icalendar
    import recurring_ical_events

    from generator.busy.expansion import MAX_OCCURRENCES, estimate, skip_ahead

    alone = copy.deepcopy(master)
    if "DTSTART" not in alone:
        return False
    begin = moment if isinstance(moment, datetime) else datetime.combine(moment, time())
    aware = begin if begin.tzinfo is not None else begin.replace(tzinfo=UTC)
    skip_ahead(alone, aware.astimezone(UTC), timedelta(0))
    if estimate(alone, aware.astimezone(UTC) + timedelta(days=2)) > MAX_OCCURRENCES:
        return False  # the budget stops the read later anyway
    holder = icalendar.Calendar()
    holder.add_component(alone)
    for instance in recurring_ical_events.of(holder).between(
        begin - timedelta(days=1), begin + timedelta(days=1)
    ):
        start = instance["DTSTART"].dt
        if type(start) is type(moment) and _same(start, moment):
            return True
    return False


def _same(a: date | datetime, b: date | datetime) -> bool:
    mixed = isinstance(a, datetime) and isinstance(b, datetime) and (
        (a.tzinfo is None) != (b.tzinfo is None)
    )
    return a.replace(tzinfo=None) == b.replace(tzinfo=None) if mixed else a == b  # type: ignore[union-attr]


def _content(event: icalendar.cal.Component) -> bytes:
    return b"".join(
        event[key].to_ical() if not isinstance(event[key], list) else repr(event[key]).encode()
        for key in ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "STATUS", "TRANSP")
        if key in event
    )
