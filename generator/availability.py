"""Settings + busy intervals + now -> open slots, laid on the owner's wall-clock grid.

The rules, each applied per call type:

- Open hours. An open range ``[a, b)`` of ``settings.availability.ranges_for(day)``
  (weekly hours after date overrides and closed ranges) covers the real instants
  from U(day, a) to U(day, b), where U(day, m) is *the first instant whose local
  wall time is at or after day + m minutes*. For ordinary times that is simply the
  local time; for a wall time that exists twice (fall-back) it is the first
  occurrence; for one that does not exist (spring-forward gap) it is the moment
  the clocks jump. So "00:00-24:00" holds 23 real hours on the spring-forward day
  and 25 on the fall-back day.
- Grid. Candidate starts are the wall times a, a + step, a + 2*step, ... before b.
  A wall time inside a gap is skipped; one that exists twice gives both instants
  (so the repeated hour is usable). Walking the candidates in real time, a start
  closer than ``step`` to the previous kept start is dropped: across a DST change
  starts never repeat, and slots never overlap when step >= duration.
- Fit. A slot lasts exactly the call type's duration in elapsed time and must end
  by the range's real end.
- Notice and horizon: ``now + notice <= start < now + horizon``.
- Busy time. A slot must not overlap any busy interval or booked call widened by
  ``booking.buffer_before`` (before its start) and ``booking.buffer_after`` (after
  its end).
- Calls per day. A local day already holding ``booking.max_per_day`` booked calls
  offers nothing; a day with capacity left offers all its free slots (the handler
  enforces the count when a booking arrives).
- Offers per day. With ``booking.offers_per_day = N`` a local day shows at most N
  starts per call type, chosen by :func:`spread`: the first and the last free
  start, and between them the free starts nearest to evenly spaced moments.

Everything here is a pure function of its arguments; ``now`` is always given.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol

from generator.config.settings import (
    Availability,
    CallType,
    DayRange,
    Settings,
)
from generator.domain import Busy, Slot

__all__ = [
    "Slot",
    "booked_busy",
    "bookings_since",
    "calendar_window",
    "check_slot",
    "open_slots",
    "spread",
]


class BookedCalls(Protocol):
    """What availability needs of the booking store: confirmed calls ending after a time."""

    def taken(self, after: datetime) -> list[tuple[datetime, datetime]]: ...


# --------------------------------------------------------------------------
# Wall-clock time <-> real time


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    """The naive local wall time of an aware instant."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _first_at_or_after(wall: datetime, tz: tzinfo) -> datetime:
    """U(wall): the first real instant (UTC) whose local wall time is at or after ``wall``."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = min(early, late), max(early, late)
    if _wall(lo, tz) == wall:
        return lo  # exists; when it exists twice, lo is the first occurrence
    # A gap: the clocks jump past ``wall`` somewhere in (lo, hi]; find that moment.
    # Transitions fall on whole seconds, so a bisection over seconds is exact.
    low, high = 0, int((hi - lo).total_seconds())
    while low < high:
        mid = (low + high) // 2
        if _wall(lo + timedelta(seconds=mid), tz) >= wall:
            high = mid
        else:
            low = mid + 1
    return lo + timedelta(seconds=low)


def _instants(wall: datetime, tz: tzinfo) -> list[datetime]:
    """Every real instant (UTC) showing ``wall`` on the clock: none in a gap, two at fall-back."""
    found = []
    for fold in (0, 1):
        moment = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if _wall(moment, tz) == wall and moment not in found:
            found.append(moment)
    return sorted(found)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


@dataclass(frozen=True)
class _Range:
    """One open range of one local day, in real time."""

    day: date
    hours: DayRange
    start: datetime  # UTC
    end: datetime  # UTC


def _ranges(availability: Availability, day: date, tz: tzinfo) -> list[_Range]:
    result = []
    for hours in availability.ranges_for(day):
        start = _first_at_or_after(_midnight(day) + timedelta(minutes=hours.start), tz)
        end = _first_at_or_after(_midnight(day) + timedelta(minutes=hours.end), tz)
        if end > start:  # a range lying wholly inside a DST gap has no real time
            result.append(_Range(day, hours, start, end))
    return result


def _grid(call: CallType, rng: _Range, tz: tzinfo) -> list[datetime]:
    """The starts (UTC) of one call type in one open range, before notice and busy time."""
    first = _midnight(rng.day) + timedelta(minutes=rng.hours.start)
    last = _midnight(rng.day) + timedelta(minutes=rng.hours.end)
    candidates: list[datetime] = []
    wall = first
    while wall < last:
        candidates.extend(_instants(wall, tz))
        wall += call.step
    candidates.sort()
    kept: list[datetime] = []
    for start in candidates:
        if start < rng.start or start + call.duration > rng.end:
            continue
        if kept and start - kept[-1] < call.step:
            continue  # a DST change brought it closer than one step to the previous start
        kept.append(start)
    return kept


# --------------------------------------------------------------------------
# Busy time


class _Blocks:
    """Busy intervals and booked calls, widened by the buffers, merged for fast overlap tests."""

    def __init__(self, intervals: Iterable[Busy], before: timedelta, after: timedelta) -> None:
        widened = sorted((b.start - before, b.end + after) for b in intervals)
        starts: list[datetime] = []
        ends: list[datetime] = []
        for start, end in widened:
            if starts and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self.starts = starts
        self.ends = ends

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) shares any time with a block (touching ends is fine)."""
        i = bisect.bisect_right(self.ends, start)  # first block ending after ``start``
        return i < len(self.starts) and self.starts[i] < end


def _booked_per_day(booked: Iterable[Busy], tz: tzinfo) -> Counter[date]:
    return Counter(b.start.astimezone(tz).date() for b in booked)


def _local_days(first: datetime, last: datetime, tz: tzinfo) -> list[date]:
    day, end = first.astimezone(tz).date(), last.astimezone(tz).date()
    days = []
    while day <= end:
        days.append(day)
        day += timedelta(days=1)
    return days


# --------------------------------------------------------------------------
# Public API


def spread(starts: Sequence[datetime], count: int | None) -> list[datetime]:
    """At most ``count`` well-spread starts out of the sorted ``starts`` of one day.

    The first and the last are always chosen; the others are the starts nearest to
    evenly spaced moments between them (the earlier one on a tie). One offer is the
    first start. Deterministic: the same starts always give the same choice.
    """
    if count is None or len(starts) <= count:
        return list(starts)
    if count <= 0:
        return []
    if count == 1:
        return [starts[0]]
    first, last = starts[0], starts[-1]
    chosen = {0, len(starts) - 1}
    for k in range(1, count - 1):
        target = first + (last - first) * k / (count - 1)
        free = [i for i in range(len(starts)) if i not in chosen]
        best = min(free, key=lambda i: (abs(starts[i] - target), i))
        chosen.add(best)
    return [starts[i] for i in sorted(chosen)]


def open_slots(
    settings: Settings,
    busy: Sequence[Busy],
    now: datetime,
    *,
    booked: Sequence[Busy] = (),
    call_types: Sequence[str] | None = None,
) -> list[Slot]:
    """The slots to offer, sorted by (start, call_type); see the module docstring for the rules.

    ``booked`` are calls already booked: they block time like busy intervals (buffers
    included) and count toward ``max_per_day``. ``call_types`` limits the result to
    those slugs (default: every call type).
    """
    tz = settings.tz
    rules = settings.booking
    earliest = now + rules.notice
    horizon_end = now + rules.horizon
    blocks = _Blocks([*busy, *booked], rules.buffer_before, rules.buffer_after)
    per_day = _booked_per_day(booked, tz)
    types = [c for c in settings.call_types if call_types is None or c.slug in call_types]
    result: list[Slot] = []
    if earliest >= horizon_end:
        return result
    for day in _local_days(earliest, horizon_end, tz):
        if rules.max_per_day is not None and per_day[day] >= rules.max_per_day:
            continue
        ranges = _ranges(settings.availability, day, tz)
        for call in types:
            starts = [
                start
                for rng in ranges
                for start in _grid(call, rng, tz)
                if earliest <= start < horizon_end
                and not blocks.overlaps(start, start + call.duration)
            ]
            for start in spread(starts, rules.offers_per_day):
                result.append(Slot(start, start + call.duration, call.slug))
    result.sort(key=lambda s: (s.start, s.call_type))
    return result


def calendar_window(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    """The UTC window of calendar data needed to decide every slot from ``now``.

    From ``now`` to ``now + horizon`` plus the longest call, widened by the buffers
    (a busy interval just outside still blocks through its buffer) and one day of
    margin on each side (local days, all-day events, DST).
    """
    rules = settings.booking
    longest = max((c.duration for c in settings.call_types), default=timedelta(0))
    day = timedelta(days=1)
    start = now - rules.buffer_after - day
    end = now + rules.horizon + longest + rules.buffer_before + day
    return start.astimezone(UTC), end.astimezone(UTC)


def bookings_since(settings: Settings, now: datetime) -> datetime:
    """The earliest end (UTC) of a booked call that still matters to slots offered from ``now``.

    Calls that are over still count: one ending less than ``buffer_after`` ago blocks
    its buffer, and every call of the owner's local day of ``now`` counts toward
    ``max_per_day`` (as the handler counts it). A build that read only future calls
    offered times the handler then refused.
    """
    tz = settings.tz
    day = now.astimezone(tz).date()
    day_start = _first_at_or_after(_midnight(day), tz)
    return min(day_start, now - settings.booking.buffer_after).astimezone(UTC)


def booked_busy(store: BookedCalls, settings: Settings, now: datetime) -> list[Busy]:
    """The booked calls that block time for slots offered from ``now`` (build, serve, offer)."""
    return [Busy(start, end) for start, end in store.taken(bookings_since(settings, now))]


def check_slot(
    settings: Settings,
    slot: Slot,
    now: datetime,
    *,
    busy: Sequence[Busy] = (),
    booked: Sequence[Busy] = (),
) -> str | None:
    """None when ``slot`` may still be booked, else why not.

    Reasons: "unknown_call_type", "grid" (not a start of the call type's wall-clock
    grid, or not its exact length), "notice", "horizon", "hours" (outside the open
    hours, date overrides included), "busy" (overlaps busy time or a booked call,
    buffers included), "full" (the day already holds ``max_per_day`` calls).
    ``offers_per_day`` is not checked: it only thins out what the page shows.
    """
    call = settings.call_type(slot.call_type)
    if call is None:
        return "unknown_call_type"
    if slot.end - slot.start != call.duration:
        return "grid"
    rules = settings.booking
    if slot.start < now + rules.notice:
        return "notice"
    if slot.start >= now + rules.horizon:
        return "horizon"
    tz = settings.tz
    day = slot.start.astimezone(tz).date()
    ranges = [
        r
        for r in _ranges(settings.availability, day, tz)
        if r.start <= slot.start and slot.end <= r.end
    ]
    if not ranges:
        return "hours"
    if not any(slot.start == start for r in ranges for start in _grid(call, r, tz)):
        return "grid"
    # One slot: a plain scan is cheaper than sorting and merging the intervals.
    before, after = rules.buffer_before, rules.buffer_after
    for b in (*busy, *booked):
        if b.start - before < slot.end and b.end + after > slot.start:
            return "busy"
    if rules.max_per_day is not None and _booked_per_day(booked, tz)[day] >= rules.max_per_day:
        return "full"
    return None


