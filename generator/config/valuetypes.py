"""Small value types of the settings: secrets, day ranges, durations, rate limits, reminders.

Each parser takes the raw TOML (or command-line) value and raises a ConfigError
that names the field and says how to write the value; the settings loader and
the command line share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from generator.errors import ConfigError

__all__ = [
    "DayRange",
    "Reminder",
    "Secret",
    "parse_duration",
    "parse_hours",
    "parse_range",
    "parse_rate_limit",
    "parse_reminder",
    "parse_reminders",
    "parse_timezone",
]


class Secret:
    """A value read from the environment (or the settings file) that must never be shown."""

    __slots__ = ("_value", "env", "field", "file", "line")

    def __init__(
        self,
        value: str | None,
        *,
        env: str | None = None,
        field: str = "",
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self._value = value
        self.env = env
        self.field = field
        self.file = file  # where the "env:NAME" was written, so the message can point there
        self.line = line

    def get(self) -> str:
        """The secret value; a ConfigError naming the variable when it is not set."""
        if self._value is None:
            raise ConfigError(
                f"environment variable {self.env} is not set; export it "
                f'(the settings say {self.field} = "env:{self.env}")',
                file=self.file,
                field=self.field,
                line=self.line,
            )
        return self._value

    @property
    def present(self) -> bool:
        return self._value is not None

    def __repr__(self) -> str:
        source = f"env:{self.env}" if self.env else "inline"
        return f"Secret({source}, {'set' if self.present else 'missing'})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self._value, self.env) == (other._value, other.env)

    def __hash__(self) -> int:
        return hash((self._value, self.env))


@dataclass(frozen=True, order=True)
class DayRange:
    """A range of local wall-clock time within one day, in minutes after midnight (0..1440)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_DURATION_RE = re.compile(r"(\d+)\s*(w|d|h|m|s)")


def parse_duration(text: object, *, field: str = "duration", file: str | None = None) -> timedelta:
    """Parse "30m", "4h", "14d", "1h30m", "2w" (weeks, days, hours, minutes, seconds)."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ConfigError(
            f'expected a duration such as "30m", "4h" or "14d", got {text!r}',
            file=file,
            field=field,
        )
    compact = text.strip().lower().replace(" ", "")
    units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    pos, total = 0, timedelta()
    for match in _DURATION_RE.finditer(compact):
        if match.start() != pos:
            break
        try:
            total += timedelta(**{units[match.group(2)]: int(match.group(1))})
        except OverflowError:
            raise ConfigError(f"{text!r} is far too long", file=file, field=field) from None
        pos = match.end()
    if not compact or pos != len(compact):
        raise ConfigError(
            f"{text!r} is not a duration; write a number and a unit: "
            '"30m", "4h", "14d", "1h30m" (units w, d, h, m, s)',
            file=file,
            field=field,
        )
    return total


# The en dash and em dash too: callslot itself prints ranges as "09:00–12:00", and an
# owner copies them from `callslot slots` or `check` into site.toml.
_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-\u2013\u2014]\s*(\d{1,2}):(\d{2})\s*$")
# Ranges written another usual way: "9-17", "09.00-12.00", "9h-17h30", "0900-1200".
_LOOSE_RANGE_RE = re.compile(
    r"^\s*(\d{1,2})(?:[.:h]?(\d{2}))?h?\s*[-\u2013\u2014]\s*(\d{1,2})(?:[.:h]?(\d{2}))?h?\s*$",
    re.IGNORECASE,
)


def _range_fix(text: str) -> str:
    """'did you mean "09:00-17:00"? ...' for a range written as "9-17" or "09.00-12.00"; or ""."""
    match = _LOOSE_RANGE_RE.match(text)
    if not match:
        return ""
    h1, m1, h2, m2 = (int(g or 0) for g in match.groups())
    if max(m1, m2) > 59 or max(h1 * 60 + m1, h2 * 60 + m2) > 1440 or h2 * 60 + m2 <= h1 * 60 + m1:
        return ""
    return f'did you mean "{h1:02}:{m1:02}-{h2:02}:{m2:02}"? (write "HH:MM-HH:MM")'


def _impossible(hours: int, minutes: int, *, end: bool) -> str | None:
    """Why HH:MM is no time of day (as a start, or as an end where 24:00 is allowed); or None."""
    if minutes > 59:
        return f"{hours:02}:{minutes:02} is not a time of day: an hour has minutes 00 to 59"
    if hours * 60 + minutes > 1440:
        return f"{hours:02}:{minutes:02} is not a time of day: the day ends at 24:00"
    if not end and hours * 60 + minutes == 1440:
        return "24:00 is the end of the day, so nothing can start at it"
    return None


def parse_range(text: object, *, field: str = "hours", file: str | None = None) -> DayRange:
    """Parse "09:00-12:00" or "09:00–12:00" (24:00 allowed as an end) into a DayRange."""
    match = _RANGE_RE.match(text) if isinstance(text, str) else None
    if not match:
        fix = _range_fix(text) if isinstance(text, str) else ""
        raise ConfigError(
            f"{text!r} is not a time range; "
            + (fix or 'write "HH:MM-HH:MM", e.g. "09:00-12:00"'),
            file=file,
            field=field,
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    why = _impossible(h1, m1, end=False) or _impossible(h2, m2, end=True)
    if why:
        raise ConfigError(f"{text!r}: {why}", file=file, field=field)
    if end <= start:
        raise ConfigError(f"{text!r} ends before it starts", file=file, field=field)
    return DayRange(start, end)


def parse_hours(value: object, *, field: str, file: str | None = None) -> tuple[DayRange, ...]:
    """Parse a list of ranges (or one range string); overlapping ranges are merged."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(
            f'expected a list of ranges such as ["09:00-12:00", "14:00-17:00"], got {value!r}',
            file=file,
            field=field,
        )
    ranges = sorted(parse_range(v, field=field, file=file) for v in value)
    merged: list[DayRange] = []
    for r in ranges:
        if merged and r.start <= merged[-1].end:
            merged[-1] = DayRange(merged[-1].start, max(merged[-1].end, r.end))
        else:
            merged.append(r)
    return tuple(merged)


_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")


def parse_rate_limit(
    text: str, *, field: str = "booking.rate_limit", file: str | None = None
) -> tuple[int, timedelta] | None:
    """Parse "5/10m" into (5, 10 minutes); "off" into None."""
    if text.strip().lower() in ("off", "none", "0"):
        return None
    match = _RATE_RE.match(text)
    if not match or int(match.group(1)) < 1:
        raise ConfigError(
            f'{text!r} is not a rate limit; write e.g. "5/10m" or "off"', file=file, field=field
        )
    window = parse_duration(match.group(2), field=field, file=file)
    if window <= timedelta(0):
        raise ConfigError("the rate limit window must be longer than zero", file=file, field=field)
    return int(match.group(1)), window


def parse_timezone(text: str, *, field: str, file: str | None = None) -> ZoneInfo:
    """The zone of an IANA name such as "Europe/Berlin"; a ConfigError naming ``field``."""
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass  # OSError: a name like "Europe/" that is a folder of tzdata
    from generator.config.suggest import closest_timezone, offset_hint

    offset = offset_hint(text)
    if offset:
        raise ConfigError(offset, file=file, field=field)
    match = closest_timezone(text)
    fix = (f'did you mean "{match}"?' if match
           else 'write e.g. "Europe/Berlin" or "America/New_York"')
    raise ConfigError(f"{text!r} is not an IANA time zone; {fix}", file=file, field=field)


@dataclass(frozen=True)
class Reminder:
    """How long before a call a reminder goes out, as written ("1d", "1h").

    Days and weeks count on the owner's calendar ("1d": the day before at the
    same local time, also across a DST change); hours, minutes and seconds are
    exact ("24h" before a call on the Monday after the clocks go forward is
    Sunday one hour earlier by the clock).
    """

    text: str
    days: int
    exact: timedelta

    def due(self, start: datetime, tz: ZoneInfo) -> datetime:
        """When the reminder of a call starting at ``start`` is due (UTC)."""
        local = start.astimezone(tz)
        # Aware arithmetic on one tzinfo is wall-clock arithmetic: the day before, same time.
        earlier = (local - timedelta(days=self.days)).astimezone(UTC)
        return earlier - self.exact


def parse_reminder(text: object, *, field: str, file: str | None = None) -> Reminder:
    """ "1d", "24h", "1h30m": checked as a duration, then split into calendar days and the rest."""
    total = parse_duration(text, field=field, file=file)
    assert isinstance(text, str)  # parse_duration refused anything else
    if total <= timedelta(0):
        raise ConfigError(f"{text!r}: a reminder goes out before the call; use e.g. \"1h\"",
                          file=file, field=field)
    days = 0
    for number, unit in re.findall(r"(\d+)([wdhms])", text.strip().lower().replace(" ", "")):
        if unit in "wd":
            days += int(number) * (7 if unit == "w" else 1)
    return Reminder(text=text.strip(), days=days, exact=total - timedelta(days=days))


def parse_reminders(value: object, *, field: str, file: str | None = None) -> tuple[Reminder, ...]:
    """notify.reminders: a list of durations before the call (one string is a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError('expected a list such as ["1d", "1h"] (or [] for none)',
                          file=file, field=field)
    parsed = [parse_reminder(item, field=field, file=file) for item in value]
    # Two spellings of one moment ("1d" and "24h" on most days) stay two reminders:
    # only the same text twice is folded.
    return tuple({rem.text: rem for rem in parsed}.values())
