"""Recurrences expanded within a budget: cost follows the window, not the age of a series.

dateutil walks a rule from its DTSTART, so a MINUTELY rule begun a year ago costs
half a million steps before the first instance in a week's window, and
FREQ=SECONDLY thirty million. Two bounds keep a stranger's calendar from holding
a build or a booking:

- **Skip ahead.** For a rule whose instances repeat with a fixed step in wall
  time (FREQ up to WEEKLY, one RRULE, no COUNT), DTSTART is moved forward by a
  whole number of steps to just before the window. Every default the rule takes
  from DTSTART (second, minute, hour, weekday) and its grid stay the same, so the
  instances from there on are exactly the same ones.
- **Budget.** Before anything is expanded, the instances each series can
  produce up to the window's end are estimated from above; a calendar whose
  series need more than :data:`MAX_OCCURRENCES`, or whose expansion outlasts its
  time (:data:`EXPANSION_SECONDS`, or the caller's deadline), stops with a
  message naming the event. It never counts as free.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from generator.busy.policy import event_error
from generator.errors import CalendarError

if TYPE_CHECKING:
    import icalendar

__all__ = ["EXPANSION_SECONDS", "MAX_OCCURRENCES", "expand", "skip_ahead"]

# Instances one calendar may produce in a window: a full diary has a few hundred a week.
MAX_OCCURRENCES = 50_000
# Time one calendar's expansion may take (a 50,000-event feed takes well under 1 s).
EXPANSION_SECONDS = 6.0
# A VTIMEZONE is a few lines; a calendar defines a handful. Many more is no calendar app.
MAX_TIMEZONES = 1_000

_STEP = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
}
# Periods per year at each frequency, for the estimate of rules that cannot skip ahead.
_PER_YEAR = {"MONTHLY": 12, "YEARLY": 1, **{k: 366 * 86400 / v.total_seconds() for k, v in
                                              _STEP.items()}}
# How many instances one period can expand to, per BY part and frequency (an upper bound).
_EXPANDS = {
    "BYSECOND": ("MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"),
    "BYMINUTE": ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"),
    "BYHOUR": ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"),
    "BYDAY": ("WEEKLY", "MONTHLY", "YEARLY"),
    "BYMONTHDAY": ("MONTHLY", "YEARLY"),
    "BYYEARDAY": ("YEARLY",),
    "BYWEEKNO": ("YEARLY",),
    "BYMONTH": ("YEARLY",),
}
_DAYS_PER_WEEKDAY = {"WEEKLY": 1, "MONTHLY": 5, "YEARLY": 53}


def skip_ahead(event: icalendar.cal.Component, before: datetime, longest: timedelta) -> None:
    """Move a fixed-step series' DTSTART (and DTEND) to the last step before the window.

    ``before`` is the start of the window the library is asked for; ``longest``
    the longest any instance of this UID lasts, so no instance that reaches into
    the window starts before the new DTSTART.
    """
    rules = event.get("RRULE")
    if rules is None or isinstance(rules, list) or "RECURRENCE-ID" in event:
        return
    freq = [str(f).upper() for f in rules.get("FREQ", [])]
    if len(freq) != 1 or freq[0] not in _STEP or rules.get("COUNT"):
        return
    interval = int(rules.get("INTERVAL", [1])[0] or 1)
    step = _STEP[freq[0]] * interval
    start = event["DTSTART"].dt
    # The moment the new first instance must not pass, in the DTSTART's own wall clock.
    target = before - longest - timedelta(days=2)
    if isinstance(start, datetime):
        wall_target = (
            target.astimezone(start.tzinfo).replace(tzinfo=None)
            if start.tzinfo is not None
            else target.replace(tzinfo=None)
        )
        wall = start.replace(tzinfo=None)
    else:
        wall_target = datetime.combine(target.date(), datetime.min.time())
        wall = datetime.combine(start, datetime.min.time())
    steps = math.floor((wall_target - wall) / step)
    if steps <= 0:
        return
    shift = step * steps
    if isinstance(start, datetime):
        moved: date | datetime = (wall + shift).replace(tzinfo=start.tzinfo)
    else:
        moved = start + shift  # whole days: WEEKLY or DAILY on dates
    event["DTSTART"].dt = moved
    if "DTEND" in event:
        end = event["DTEND"].dt
        if isinstance(end, datetime) and isinstance(start, datetime):
            event["DTEND"].dt = (end.replace(tzinfo=None) + shift).replace(tzinfo=end.tzinfo)
        elif not isinstance(end, datetime) and not isinstance(start, datetime):
            event["DTEND"].dt = end + shift
        else:
            # Mixed types: keep the length as the library would compute it.
            event["DTEND"].dt = end + shift


def estimate(event: icalendar.cal.Component, until: datetime) -> int:
    """An upper bound of the instances the library walks for this event up to ``until``."""
    rules = event.get("RRULE")
    if rules is None:
        return 1 + _rdates(event)
    total = 0
    for rule in rules if isinstance(rules, list) else [rules]:
        freq = str((rule.get("FREQ") or ["YEARLY"])[0]).upper()
        interval = int((rule.get("INTERVAL") or [1])[0] or 1)
        start = event["DTSTART"].dt
        last = until.replace(tzinfo=None)
        stop = (rule.get("UNTIL") or [None])[0]
        if stop is not None:
            last = min(last, _naive(stop))
        years = max((last - _naive(start)).total_seconds(), 0) / (366 * 86400)
        periods = years * _PER_YEAR.get(freq, 1) / interval + 1
        per_period = 1
        for part, freqs in _EXPANDS.items():
            values = rule.get(part)
            if values and freq in freqs:
                factor = len(values)
                if part == "BYDAY":
                    factor *= _DAYS_PER_WEEKDAY.get(freq, 1)
                per_period *= factor
        count = rule.get("COUNT")
        bound = periods * per_period
        if count:
            bound = min(bound, max(int(count[0]), 1))  # COUNT ends the walk
        total += math.ceil(bound)
    return total + _rdates(event)


def _naive(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.combine(value, datetime.min.time())


def _rdates(event: icalendar.cal.Component) -> int:
    written = event.get("RDATE")
    return sum(len(r.dts) for r in (written if isinstance(written, list) else [written])) if (
        written
    ) else 0


def expand(
    calendar: icalendar.Calendar,
    start: datetime,
    end: datetime,
    *,
    name: str,
    deadline: float | None = None,
) -> Iterator[Any]:
    """The instances (icalendar components) of every event in [start, end), within the budget.

    CalendarError names the event that does not fit.
    """
    import recurring_ical_events

    zones = calendar.walk("VTIMEZONE")
    if len(zones) > MAX_TIMEZONES:
        raise CalendarError(
            f"defines {len(zones):,} time zones (VTIMEZONE); a calendar app writes a few, and "
            f"more than {MAX_TIMEZONES:,} are not read; export the calendar again",
            calendar=name,
        )
    stop_at = time.monotonic() + EXPANSION_SECONDS
    if deadline is not None:
        stop_at = min(stop_at, deadline)
    events = calendar.walk("VEVENT")
    left = MAX_OCCURRENCES
    largest: tuple[int, Any] = (0, None)
    for event in events:
        count = estimate(event, end)
        largest = max(largest, (count, event), key=lambda pair: pair[0])
        left -= count
        if left < 0:
            raise _too_many(largest[1] if largest[0] > MAX_OCCURRENCES // 2 else None, name)
    query = recurring_ical_events.of(calendar)
    made = 0
    for series in query.series:
        if time.monotonic() > stop_at:
            raise _too_slow(series, events, name)
        before = made
        for occurrence in series.between(start, end):
            made += 1
            if made > MAX_OCCURRENCES:
                # Blame one series only when it made most of them.
                own = made - before > MAX_OCCURRENCES // 2
                raise _too_many(_component_of(series, events) if own else None, name)
            if made % 256 == 0 and time.monotonic() > stop_at:
                raise _too_slow(series, events, name)
            yield occurrence.as_component(False)


def _component_of(series: Any, events: list[icalendar.cal.Component]) -> icalendar.cal.Component:
    uid = str(series.uid)
    for event in events:
        if str(event.get("UID", "")) == uid:
            return event
    return events[0]


def _too_many(event: icalendar.cal.Component | None, name: str) -> CalendarError:
    """The instance budget ran out: blame ``event`` when it alone made most of them."""
    if event is None:
        return CalendarError(
            f"has too many events and repetitions to read: together they would need more "
            f"than {MAX_OCCURRENCES:,} instances around the booking window; the build stops "
            "rather than guess; export a smaller calendar or check the address",
            calendar=name,
        )
    rule = event.get("RRULE")
    shown = rule.to_ical().decode() if rule is not None and not isinstance(rule, list) else ""
    what = f"{shown!r} " if shown else ""
    return event_error(
        event,
        "RRULE" if rule is not None else None,
        f"{what}repeats too often to read: the calendar would need more than "
        f"{MAX_OCCURRENCES:,} instances around the booking window; the build stops rather "
        "than guess; make the repetition less frequent or end it",
        calendar=name,
    )


def _too_slow(series: Any, events: list[icalendar.cal.Component], name: str) -> CalendarError:
    event = _component_of(series, events)
    if "RRULE" not in event:  # no rule to blame: it is the number of events
        return CalendarError(
            "could not be worked out in time: it has too many events around the booking "
            "window; the calendar is not read rather than taken as free; export a smaller "
            "calendar or check the address",
            calendar=name,
        )
    return event_error(
        event,
        "RRULE",
        "could not be worked out in time; the calendar is not read rather "
        "than taken as free; make the repetition simpler or end it",
        calendar=name,
    )
