"""Bookings -> the test-phase review: calls per week, cancellations, notice, topics, outcomes.

The owner runs `callslot stats` after a few weeks of scheduled calls to see
whether they work: how many calls were booked, how far ahead, about what, on
which days and hours, and (where outcomes are marked with
`callslot bookings mark ID held|missed`) how many of them actually took place.
Everything is computed from plain :class:`Booking` values; the clock enters as
a parameter, so the same bookings always give the same numbers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from statistics import median
from typing import Any

from generator.domain import Booking
from generator.errors import CallslotError

__all__ = [
    "Stats",
    "WeekRow",
    "compute_stats",
    "format_json",
    "format_table",
    "plot_stats",
    "to_dict",
]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TOP_TOPICS = 10


@dataclass(frozen=True)
class WeekRow:
    """One ISO week (of the call's local start): calls still on, and calls cancelled."""

    week: str  # "2026-W49"
    booked: int
    cancelled: int


@dataclass(frozen=True)
class Stats:
    """The numbers `callslot stats` shows; counts are of calls, times in the owner's zone."""

    since: datetime | None
    total: int  # every booking in range, cancelled ones included
    confirmed: int
    cancelled: int
    weeks: tuple[WeekRow, ...]
    notice_average: timedelta | None  # created_at -> start, over all bookings
    notice_median: timedelta | None
    topics: tuple[tuple[str, int], ...]  # case-folded keyword, count; most common first
    weekdays: tuple[tuple[str, int], ...]  # confirmed calls per local weekday, busiest first
    hours: tuple[tuple[int, int], ...]  # confirmed calls per local start hour, busiest first
    held: int
    missed: int
    unmarked: int  # confirmed calls that are over (or all, without ``now``) and not marked
    upcoming: int  # confirmed calls not over yet at ``now``

    @property
    def held_share(self) -> float | None:
        """Share of marked calls that took place; None while nothing is marked."""
        marked = self.held + self.missed
        return self.held / marked if marked else None


def _keyword(topic: str) -> str:
    # Callers type "Vertrag", " vertrag " and "VERTRAG": one keyword.
    return " ".join(topic.split()).casefold()


def compute_stats(
    bookings: Iterable[Booking], *, tz: tzinfo, since: datetime | None, now: datetime | None = None
) -> Stats:
    """Summarise bookings whose call starts at or after ``since`` (all when None).

    Weeks, weekdays and hours are those of the call's start in ``tz`` (the
    owner's zone). With ``now``, confirmed calls not over yet count as
    upcoming rather than unmarked.
    """
    chosen = [b for b in bookings if since is None or b.start >= since]
    chosen.sort(key=lambda b: (b.start, b.id))
    confirmed = [b for b in chosen if b.status != "cancelled"]
    cancelled = [b for b in chosen if b.status == "cancelled"]

    per_week: dict[str, list[int]] = {}
    for b in chosen:
        year, week, _ = b.start.astimezone(tz).isocalendar()
        row = per_week.setdefault(f"{year}-W{week:02d}", [0, 0])
        row[1 if b.status == "cancelled" else 0] += 1
    weeks = tuple(WeekRow(week, booked, gone) for week, (booked, gone) in sorted(per_week.items()))

    notices = [b.start - b.created_at for b in chosen]
    average = sum(notices, timedelta()) / len(notices) if notices else None
    middle = median(notices) if notices else None

    topics = Counter(k for k in (_keyword(b.topic) for b in chosen) if k)
    # Ties are broken alphabetically so the output is stable between runs.
    top_topics = tuple(sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TOPICS])

    local_starts = [b.start.astimezone(tz) for b in confirmed]
    day_counts = Counter(s.weekday() for s in local_starts)
    weekdays = tuple(
        (WEEKDAY_NAMES[d], n) for d, n in sorted(day_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    hour_counts = Counter(s.hour for s in local_starts)
    hours = tuple(sorted(hour_counts.items(), key=lambda kv: (-kv[1], kv[0])))

    held = sum(1 for b in confirmed if b.outcome == "held")
    missed = sum(1 for b in confirmed if b.outcome == "missed")
    open_ = [b for b in confirmed if b.outcome not in ("held", "missed")]
    upcoming = sum(1 for b in open_ if now is not None and b.end > now)
    return Stats(
        since=since,
        total=len(chosen),
        confirmed=len(confirmed),
        cancelled=len(cancelled),
        weeks=weeks,
        notice_average=average,
        notice_median=middle,
        topics=top_topics,
        weekdays=weekdays,
        hours=hours,
        held=held,
        missed=missed,
        unmarked=len(open_) - upcoming,
        upcoming=upcoming,
    )


# --------------------------------------------------------------------------
# Output


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins:02d}m"


def format_table(stats: Stats) -> str:
    """A plain-text report for the terminal."""
    lines: list[str] = []
    since = stats.since.date().isoformat() if stats.since else "the first booking"
    lines.append(
        f"Calls since {since}: {stats.total} booked, {stats.cancelled} cancelled, "
        f"{stats.confirmed} on"
    )
    if not stats.total:
        lines.append("No bookings yet: share the page's link and come back in a few weeks.")
        return "\n".join(lines) + "\n"
    lines.append("")
    lines.append("Week       Calls  Cancelled")
    for row in stats.weeks:
        lines.append(f"{row.week:<10} {row.booked:>5}  {row.cancelled:>9}")
    lines.append("")
    lines.append(
        f"Notice (booking to call): average {_duration(stats.notice_average)}, "
        f"median {_duration(stats.notice_median)}"
    )
    if stats.topics:
        lines.append("Topics: " + ", ".join(f"{k} ({n})" for k, n in stats.topics))
    if stats.weekdays:
        lines.append("Busiest days: " + ", ".join(f"{d} ({n})" for d, n in stats.weekdays))
    if stats.hours:
        lines.append("Busiest hours: " + ", ".join(f"{h:02d}:00 ({n})" for h, n in stats.hours))
    lines.append("")
    share = stats.held_share
    if share is None:
        lines.append(
            "Outcomes: none marked yet; mark calls with `callslot bookings mark ID held|missed`"
        )
    else:
        lines.append(
            f"Outcomes: {stats.held} held, {stats.missed} missed, "
            f"{stats.unmarked} not marked: {share:.0%} of marked calls took place"
        )
    if stats.upcoming:
        lines.append(f"Upcoming: {stats.upcoming}")
    return "\n".join(lines) + "\n"


def to_dict(stats: Stats) -> dict[str, Any]:
    """JSON-ready: durations in minutes, times in ISO 8601."""
    data = asdict(stats)
    data["since"] = stats.since.isoformat() if stats.since else None
    for key in ("notice_average", "notice_median"):
        value = getattr(stats, key)
        data[f"{key}_minutes"] = round(value.total_seconds() / 60, 1) if value is not None else None
        del data[key]
    data["weeks"] = [asdict(w) for w in stats.weeks]
    data["topics"] = [{"topic": k, "count": n} for k, n in stats.topics]
    data["weekdays"] = [{"weekday": d, "count": n} for d, n in stats.weekdays]
    data["hours"] = [{"hour": h, "count": n} for h, n in stats.hours]
    data["held_share"] = stats.held_share
    return data


def format_json(stats: Stats) -> str:
    return json.dumps(to_dict(stats), indent=2, ensure_ascii=False) + "\n"


def plot_stats(stats: Stats, path: Path) -> None:
    """Draw calls per week and the outcome share into a PNG (matplotlib, the "plot" extra)."""
    try:
        # Imported here: matplotlib is an optional extra and slow to import.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CallslotError(
            "--plot needs matplotlib; install it with `pip install 'callslot[plot]'`"
        ) from None
    fig = Figure(figsize=(9, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    weeks_ax, outcome_ax = fig.subplots(1, 2, width_ratios=(3, 1))
    labels = [w.week for w in stats.weeks]
    positions = list(range(len(labels)))
    weeks_ax.bar(positions, [w.booked for w in stats.weeks], color="#2b6cb0", label="calls")
    weeks_ax.bar(
        positions,
        [w.cancelled for w in stats.weeks],
        bottom=[w.booked for w in stats.weeks],
        color="#cbd5e0",
        label="cancelled",
    )
    weeks_ax.set_xticks(positions, labels, rotation=45, ha="right")
    weeks_ax.set_title("Calls per week")
    weeks_ax.set_ylabel("calls")
    weeks_ax.yaxis.get_major_locator().set_params(integer=True)
    if labels:
        weeks_ax.legend(loc="upper left")
    else:
        weeks_ax.text(
            0.5, 0.5, "no bookings", ha="center", va="center", transform=weeks_ax.transAxes
        )

    share = stats.held_share
    outcome_ax.set_title(
        "Outcomes: none marked" if share is None else f"Outcomes: {share:.0%} held"
    )
    counts = [("held", stats.held, "#2f855a"), ("missed", stats.missed, "#c53030")]
    outcome_ax.bar([c[0] for c in counts], [c[1] for c in counts], color=[c[2] for c in counts])
    outcome_ax.yaxis.get_major_locator().set_params(integer=True)
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise CallslotError(f"cannot write the plot to {path}: {exc.strerror or exc}") from None
