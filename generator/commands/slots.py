"""`callslot slots`: settings adjusted by command-line options, open slots as a table or JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from babel.dates import format_date

from generator.commands.phrases import day_and_time
from generator.config.settings import (
    WEEKDAYS,
    Availability,
    BookingRules,
    CalendarSource,
    CallType,
    DayRange,
    Owner,
    Secret,
    Settings,
)
from generator.config.valuetypes import parse_timezone
from generator.domain import Slot
from generator.errors import ConfigError
from generator.i18n import short_time

__all__ = [
    "calendar_from_option",
    "format_json",
    "format_table",
    "settings_for_check",
    "with_overrides",
]

_URL_RE = re.compile(r"^(https?|webcal)://", re.I)


def calendar_from_option(value: str, index: int, *, cwd: Path | None = None) -> CalendarSource:
    """A --calendar value (a file path or an http(s)/webcal URL) as a calendar source.

    A URL's name shows only its host: the path of a private calendar URL is its secret.
    """
    text = value.strip()
    if _URL_RE.match(text):
        host = urlsplit(text).hostname or "?"
        return CalendarSource(
            name=f"calendar {index + 1} ({host})",
            location=Secret(text, field="--calendar"),
            kind="url",
        )
    if "://" in text:
        raise ConfigError(
            f"calendar {index + 1}: only http://, https:// and webcal:// URLs or file paths "
            "are read",
            field="--calendar",
        )
    path = ((cwd or Path.cwd()) / text).resolve()
    return CalendarSource(
        name=path.name, location=Secret(str(path), field="--calendar"), kind="file"
    )


def with_overrides(
    settings: Settings,
    *,
    timezone: str | None = None,
    duration: timedelta | None = None,
    step: timedelta | None = None,
    hours: DayRange | None = None,
    days: int | None = None,
    calendars: Sequence[CalendarSource] | None = None,
) -> Settings:
    """``settings`` with the options given on the command line replacing theirs.

    ``duration`` and ``step`` apply to every call type (a new duration without a
    step also sets the step to it, as in the settings file); ``hours`` opens the same range every
    day and drops date overrides and closed dates; ``calendars`` replaces the list.
    """
    if timezone is not None:
        parse_timezone(timezone, field="--timezone")
        settings = replace(settings, owner=replace(settings.owner, timezone=timezone))
    if duration is not None or step is not None:
        settings = replace(
            settings,
            call_types=tuple(
                replace(c, duration=duration or c.duration, step=step or duration or c.step)
                for c in settings.call_types
            ),
        )
    if hours is not None:
        weekly = tuple((hours,) for _ in WEEKDAYS)
        settings = replace(settings, availability=Availability(weekly=weekly))
    if days is not None:
        if days < 1:
            raise ConfigError("must be at least 1", field="--days")
        settings = replace(
            settings, booking=replace(settings.booking, horizon=timedelta(days=days))
        )
    if calendars is not None:
        settings = replace(settings, calendars=tuple(calendars))
    return settings


def format_json(settings: Settings, slots: Sequence[Slot]) -> str:
    """``{"timezone", "slots": [{"start", "end", "call_type"}]}``, times in the owner's zone."""
    tz = settings.tz
    data = {
        "timezone": settings.owner.timezone,
        "slots": [
            {
                "start": s.start.astimezone(tz).isoformat(),
                "end": s.end.astimezone(tz).isoformat(),
                "call_type": s.call_type,
            }
            for s in sorted(slots, key=lambda s: (s.start, s.call_type))
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def format_table(
    settings: Settings, slots: Sequence[Slot], window: tuple[datetime, datetime]
) -> str:
    """Open slots grouped by the owner's local day, dates in the owner's language.

    On a day whose UTC offset changes (DST), each time shows its offset, so the two
    02:30 of a fall-back night can be told apart.
    """
    tz = settings.tz
    language = settings.owner.language
    start, end = (moment.astimezone(tz) for moment in window)
    if not slots:
        return (
            f"No open slots from {day_and_time(start)} to {day_and_time(end)} "
            f"({settings.owner.timezone}).\n"
        )
    days: dict[date, list[Slot]] = {}
    for slot in sorted(slots, key=lambda s: (s.start, s.call_type)):
        days.setdefault(slot.start.astimezone(tz).date(), []).append(slot)
    titles = {c.slug: c.title for c in settings.call_types}
    width = max(len(slug) for slug in titles)

    def clock(moment: datetime) -> str:  # "9:00", French "9 h 30": as pages and mails write it
        return short_time(moment, tz, language)

    first = max(len(clock(s.start)) for s in slots)
    rows: list[tuple[date | None, str, Slot | None]] = []
    for day, day_slots in days.items():
        offsets = {s.start.astimezone(tz).utcoffset() for s in day_slots}
        rows.append((day, "", None))
        for slot in day_slots:
            a, b = slot.start.astimezone(tz), slot.end.astimezone(tz)
            # The start right-aligned so the times line up, the end padded so the call
            # types do.
            times = f"{clock(a):>{first}}–{clock(b)}"
            if len(offsets) > 1:
                times = f"{clock(a):>{first}}{a:%z}–{clock(b)}{b:%z}"
            rows.append((None, times, slot))
    column = max(len(times) for _, times, _ in rows)
    lines = [f"Open slots ({settings.owner.timezone}):"]
    for day, times, slot in rows:
        if slot is None:
            lines += ["", format_date(day, format="full", locale=language)]
        else:
            lines.append(f"  {times:<{column}}  {slot.call_type:<{width}}  "
                         f"{titles[slot.call_type]}")
    lines.append("")
    count = len(slots)
    lines.append(f"{count} open slot{'s' if count != 1 else ''}.")
    return "\n".join(lines) + "\n"


def settings_for_check(
    *,
    timezone: str,
    duration: timedelta,
    step: timedelta | None,
    hours: DayRange | None,
    days: int | None,
    calendars: Sequence[CalendarSource],
) -> Settings:
    """Settings for checking calendars without a settings file: every rule not given is off.

    No notice, no buffers, no limit per day, every slot offered; one call type "call"
    of ``duration`` every ``step`` (default: the duration), open ``hours`` every day
    (default 00:00-24:00) for ``days`` days (default 14).
    """
    parse_timezone(timezone, field="--timezone")
    if duration <= timedelta(0):
        raise ConfigError("must be at least one minute", field="--duration")
    if step is not None and step <= timedelta(0):
        raise ConfigError("must be at least one minute", field="--step")
    if days is not None and days < 1:
        raise ConfigError("must be at least 1", field="--days")
    daily = (hours or DayRange(0, 1440),)
    return Settings(
        owner=Owner(name="", timezone=timezone, language="en"),
        call_types=(CallType(slug="call", title="Call", duration=duration, step=step or duration),),
        calendars=tuple(calendars),
        availability=Availability(weekly=tuple(daily for _ in WEEKDAYS)),
        booking=BookingRules(horizon=timedelta(days=days or 14)),
        path=None,
    )
