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
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from generator.commands.phrases import count, join_and
from generator.domain import Booking
from generator.errors import CallslotError

if TYPE_CHECKING:
    from generator.config.valuetypes import Reminder

__all__ = [
    "PROMISED_SHARE",
    "Stats",
    "WeekRow",
    "compute_stats",
    "format_json",
    "format_table",
    "held_sentence",
    "plot_stats",
    "to_dict",
    "unmarked_reminder",
]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TOP_TOPICS = 10


# The idea behind callslot: about 9 of 10 scheduled calls reach the other person.
PROMISED_SHARE = 0.9
CLOSE_POINTS = 2  # 88% or 89% read as "about 90%"
DAY = timedelta(days=1)


@dataclass(frozen=True)
class WeekRow:
    """One ISO week (of the call's local start): calls still on, and calls cancelled.

    Every week of the period has a row, weeks without a call too, so a quiet
    week shows as a zero rather than vanishing between its neighbours.
    """

    week: str  # "2026-W49"
    booked: int
    cancelled: int
    monday: date | None = None  # the week's first day, for labels the owner reads
    held: int = 0
    missed: int = 0


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
    booked_within_day: int = 0  # bookings made less than 24 hours before their call
    cancelled_within_day: int = 0  # cancellations that came less than 24 hours before the call
    cancel_notice_median: timedelta | None = None  # cancellation -> call, median
    unmarked_ids: tuple[str, ...] = ()  # the calls ``unmarked`` counts, earliest first
    earlier: int = 0  # bookings before ``since``, left out

    @property
    def held_share(self) -> float | None:
        """Share of marked calls that took place; None while nothing is marked."""
        marked = self.held + self.missed
        return self.held / marked if marked else None

    @property
    def recurring_topics(self) -> tuple[tuple[str, int], ...]:
        """Keywords that came up more than once: what to prepare a standard answer for."""
        return tuple((k, n) for k, n in self.topics if n > 1)


def _keyword(topic: str) -> str:
    # Callers type "Vertrag", " vertrag " and "VERTRAG": one keyword.
    return " ".join(topic.split()).casefold()


def _monday(moment: datetime, tz: tzinfo) -> date:
    day = moment.astimezone(tz).date()
    return day - timedelta(days=day.weekday())


def _week_name(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def compute_stats(
    bookings: Iterable[Booking], *, tz: tzinfo, since: datetime | None, now: datetime | None = None
) -> Stats:
    """Summarise bookings whose call starts at or after ``since`` (all when None).

    Weeks, weekdays and hours are those of the call's start in ``tz`` (the
    owner's zone). The weeks run from ``since`` (or the first call) to the
    week of ``now`` (or the last call, if later), each week listed. With
    ``now``, confirmed calls not over yet count as upcoming rather than unmarked.
    """
    every = list(bookings)
    chosen = [b for b in every if since is None or b.start >= since]
    chosen.sort(key=lambda b: (b.start, b.id))
    confirmed = [b for b in chosen if b.status != "cancelled"]
    cancelled = [b for b in chosen if b.status == "cancelled"]

    weeks: tuple[WeekRow, ...] = ()
    if chosen:
        first = _monday(since if since is not None else chosen[0].start, tz)
        last = _monday(max([chosen[-1].start] + ([now] if now is not None else [])), tz)
        rows: dict[date, dict[str, int]] = {}
        monday = first
        while monday <= last:
            rows[monday] = {"booked": 0, "cancelled": 0, "held": 0, "missed": 0}
            monday += timedelta(days=7)
        for b in chosen:
            row = rows[_monday(b.start, tz)]
            row["cancelled" if b.status == "cancelled" else "booked"] += 1
            if b.status != "cancelled" and b.outcome in ("held", "missed"):
                row[b.outcome] += 1
        weeks = tuple(WeekRow(_week_name(m), r["booked"], r["cancelled"], m, r["held"],
                              r["missed"]) for m, r in rows.items())

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

    cancel_notices = [b.start - b.cancelled_at for b in cancelled if b.cancelled_at is not None]

    held = sum(1 for b in confirmed if b.outcome == "held")
    missed = sum(1 for b in confirmed if b.outcome == "missed")
    open_ = [b for b in confirmed if b.outcome not in ("held", "missed")]
    upcoming = [b for b in open_ if now is not None and b.end > now]
    unmarked = [b for b in open_ if b not in upcoming]
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
        unmarked=len(unmarked),
        upcoming=len(upcoming),
        earlier=len(every) - len(chosen),
        booked_within_day=sum(1 for n in notices if n < DAY),
        cancelled_within_day=sum(1 for n in cancel_notices if n < DAY),
        cancel_notice_median=median(cancel_notices) if cancel_notices else None,
        unmarked_ids=tuple(b.id for b in unmarked),
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


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def held_sentence(stats: Stats, reminders: Sequence[Reminder] = ()) -> str:
    """ "17 of 19 calls took place (89%): about as many as ..." in plain words.

    The share is compared as the owner reads it, rounded: 89% is about 90%. The
    advice for too few names what is not done yet (``reminders``: [notify] reminders).
    """
    marked = stats.held + stats.missed
    share = stats.held_share
    if share is None:
        return "Outcomes: none marked yet."
    taken = f"{stats.held} of {count(marked, 'call')} took place ({share:.0%})"
    shown, promised = round(share * 100), round(PROMISED_SHARE * 100)
    if shown >= promised:
        verdict = "as the idea promises (about 9 in 10 scheduled calls reach the other person)"
    elif shown >= promised - CLOSE_POINTS:
        verdict = f"about the {promised}% that scheduled calls promise"
    else:
        verdict = f"fewer than the about {promised}% that scheduled calls promise"
        if not reminders:
            verdict += ("; a reminder before each call may help "
                        '([notify] reminders = ["1d"])')
        elif all(r.days for r in reminders):
            written = ", ".join(f'"{r.text}"' for r in reminders)
            verdict += (f"; reminders go out already ({written} before); one on the day "
                        f'of the call may help more, e.g. reminders = [{written}, "2h"]')
    return f"{taken}: {verdict}."


def unmarked_reminder(stats: Stats, shown: int = 8) -> str | None:
    """What still needs marking, with the command that marks it; None when nothing does."""
    if not stats.unmarked_ids:
        return None
    ids = stats.unmarked_ids
    listed = " ".join(ids[:shown]) + (" ..." if len(ids) > shown else "")
    return (f"Not marked yet: {count(len(ids), 'past call')}. Mark how they went, several at "
            f"once: callslot bookings mark {listed} held (or missed)")


def format_table(stats: Stats, reminders: Sequence[Reminder] = ()) -> str:
    """A plain-text report for the terminal; ``reminders`` as in :func:`held_sentence`."""
    lines: list[str] = []
    since = _day(stats.since.date()) if stats.since else "the first booking"
    if stats.total:
        parts = [(stats.cancelled, "cancelled"), (stats.held, "held"),
                 (stats.missed, "missed"), (stats.unmarked, "not marked yet"),
                 (stats.upcoming, "still to come")]
        said = [f"{n} {what}" for n, what in parts if n]
        lines.append(f"Calls since {since}: {count(stats.total, 'booking')}, of which "
                     f"{join_and(said)}")
    if not stats.total and stats.earlier:
        lines.append(f"No call since {since}; {count(stats.earlier, 'booking')} before it "
                     "(an earlier --since shows them).")
        return "\n".join(lines) + "\n"
    if not stats.total:
        lines.append("No bookings yet: share the page's link and come back in a few weeks.")
        return "\n".join(lines) + "\n"
    lines.append("")
    lines.append("Week                    Calls  Held  Missed  Cancelled")
    for row in stats.weeks:
        label = f"{row.week} ({row.monday.day} {row.monday:%b})" if row.monday else row.week
        lines.append(f"{label:<22} {row.booked:>6}  {row.held:>4}  {row.missed:>6}  "
                     f"{row.cancelled:>9}")
    lines.append("")
    lines.append(held_sentence(stats, reminders))
    reminder = unmarked_reminder(stats)
    if reminder:
        lines.append(reminder)
    if stats.upcoming:
        lines.append(f"Still to come: {count(stats.upcoming, 'call')}.")
    lines.append("")
    lines.append(
        f"Booked within a day: {stats.booked_within_day} of {count(stats.total, 'booking')} "
        f"({_share(stats.booked_within_day, stats.total)}) came less than 24 hours "
        "before the call."
    )
    lines.append(
        f"Notice (booking to call): average {_duration(stats.notice_average)}, "
        f"median {_duration(stats.notice_median)}."
    )
    if stats.cancelled:
        lines.append(
            f"Cancelled: {stats.cancelled} of {count(stats.total, 'booking')} "
            f"({_share(stats.cancelled, stats.total)}); {stats.cancelled_within_day} of them "
            f"less than a day before the call (median "
            f"{_duration(stats.cancel_notice_median)} before)."
        )
    else:
        lines.append("Cancelled: none.")
    recurring = stats.recurring_topics
    if recurring:
        lines.append("Recurring topics (worth a prepared answer): "
                     + ", ".join(f"{k} ({n})" for k, n in recurring))
    once = [(k, n) for k, n in stats.topics if (k, n) not in recurring]
    if once:  # the recurring ones are named above; the rest once each
        lines.append(("Other topics: " if recurring else "Topics: ")
                     + ", ".join(f"{k} ({n})" for k, n in once))
    if stats.weekdays:
        lines.append("Busiest days: " + ", ".join(f"{d} ({n})" for d, n in stats.weekdays))
    if stats.hours:
        lines.append("Busiest hours: " + ", ".join(f"{h}:00 ({n})" for h, n in stats.hours))
    return "\n".join(lines) + "\n"


def to_dict(stats: Stats) -> dict[str, Any]:
    """JSON-ready: durations in minutes, times in ISO 8601."""
    data = asdict(stats)
    data["since"] = stats.since.isoformat() if stats.since else None
    for key in ("notice_average", "notice_median", "cancel_notice_median"):
        value = getattr(stats, key)
        data[f"{key}_minutes"] = round(value.total_seconds() / 60, 1) if value is not None else None
        del data[key]
    data["weeks"] = [
        {**asdict(w), "monday": w.monday.isoformat() if w.monday else None} for w in stats.weeks
    ]
    data["topics"] = [{"topic": k, "count": n} for k, n in stats.topics]
    data["recurring_topics"] = [{"topic": k, "count": n} for k, n in stats.recurring_topics]
    data["weekdays"] = [{"weekday": d, "count": n} for d, n in stats.weekdays]
    data["hours"] = [{"hour": h, "count": n} for h, n in stats.hours]
    data["unmarked_ids"] = list(stats.unmarked_ids)
    data["held_share"] = stats.held_share
    data["promised_share"] = PROMISED_SHARE
    return data


def format_json(stats: Stats) -> str:
    return json.dumps(to_dict(stats), indent=2, ensure_ascii=False) + "\n"


# Colours that stay apart for the common colour-vision deficiencies (Okabe-Ito).
_COLOURS = {"held": "#009e73", "missed": "#d55e00", "open": "#56b4e9", "cancelled": "#bbbbbb"}


def _untranslated(message: str, language: str | None = None, **variables: Any) -> str:
    return message % variables if variables else message


def _untranslated_n(singular: str, plural: str, n: int, language: str | None = None,
                    **variables: Any) -> str:
    return (singular if n == 1 else plural) % {"num": n, **variables}


def plot_stats(stats: Stats, path: Path, *, language: str = "en",
               theme: Any = None) -> Any:
    """Draw calls per week (by outcome) and the share of calls held into a PNG.

    Texts come from ``theme``'s catalogs in ``language`` (the owner's), week
    labels are the weeks' Mondays as the owner writes dates. Every week of the
    period has a tick, quiet weeks too, and over a long period only the first week of
    each month (or of every few months) is labelled; the outcome panel is drawn only once
    an outcome is marked (else the figure says how to mark them); the legend
    sits outside the axes. Returns the matplotlib Figure (for tests).
    """
    try:
        # Imported here: matplotlib is an optional extra and slow to import.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CallslotError(
            "--plot needs matplotlib; install it with `pip install 'callslot[plot]'`"
        ) from None
    from babel.dates import format_skeleton

    from generator.i18n import babel_locale

    gettext = theme.gettext if theme is not None else _untranslated
    ngettext = theme.ngettext if theme is not None else _untranslated_n
    locale = babel_locale(language)

    fig = Figure(figsize=(9, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    if not stats.weeks:
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, gettext("No bookings yet", language), ha="center", va="center",
                fontsize=14, transform=ax.transAxes)
        _save(fig, path)
        return fig
    marked = stats.held + stats.missed
    if marked:
        weeks_ax, share_ax = fig.subplots(1, 2, width_ratios=(4, 1))
    else:
        weeks_ax, share_ax = fig.subplots(), None

    positions = list(range(len(stats.weeks)))
    series = [
        ("held", gettext("held", language), [w.held for w in stats.weeks]),
        ("missed", gettext("missed", language), [w.missed for w in stats.weeks]),
        ("open", gettext("not marked or still to come", language),
         [w.booked - w.held - w.missed for w in stats.weeks]),
        ("cancelled", gettext("cancelled", language), [w.cancelled for w in stats.weeks]),
    ]
    bottom = [0] * len(positions)
    for key, label, values in series:
        if not any(values):
            continue  # no legend entry for what never happened
        weeks_ax.bar(positions, values, bottom=bottom, color=_COLOURS[key], label=label,
                     width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    shown = _labelled_weeks(stats.weeks)
    labels = [format_skeleton("MMMd", stats.weeks[i].monday, locale=locale)
              if stats.weeks[i].monday else stats.weeks[i].week for i in shown]
    many = len(labels) > 8
    weeks_ax.set_xticks(shown, labels, rotation=45 if many else 0,
                        ha="right" if many else "center")
    weeks_ax.set_xticks(positions, minor=True)  # every week keeps its tick, unlabelled
    weeks_ax.set_xlim(-0.6, len(positions) - 0.4)
    weeks_ax.set_ylim(0, max(max(bottom), 1) * 1.1)
    weeks_ax.yaxis.get_major_locator().set_params(integer=True)
    weeks_ax.set_title(gettext("Calls per week", language))
    weeks_ax.set_xlabel(gettext("Week starting on Monday", language))
    weeks_ax.set_ylabel(gettext("Calls", language))
    weeks_ax.spines[["top", "right"]].set_visible(False)
    # Outside the axes, below the chart: a legend inside would cover a bar sooner or later.
    fig.legend(loc="outside lower center", ncols=4, frameon=False)

    if share_ax is not None:
        from babel.numbers import format_percent

        def percent(value: float) -> str:  # "89%", French "89 %", as the language writes it
            return format_percent(value, locale=locale)

        share = stats.held / marked
        share_ax.bar([0], [share], color=_COLOURS["held"], width=0.6)
        share_ax.bar([0], [1 - share], bottom=[share], color=_COLOURS["missed"], width=0.6)
        # The line stops at the bar, so the words beside it stay readable.
        share_ax.hlines(PROMISED_SHARE, -0.45, 0.4, color="#333333", linestyle="--",
                        linewidth=1)
        share_ax.text(0.45, PROMISED_SHARE,
                      gettext("promised: about %(share)s", language,
                              share=percent(PROMISED_SHARE)),
                      va="center", ha="left", fontsize=8)
        share_ax.set_xlim(-0.5, 1.6)
        share_ax.set_ylim(0, 1)
        share_ax.set_xticks([])
        share_ax.yaxis.set_major_formatter(lambda v, _pos: percent(v))
        share_ax.set_title(
            ngettext("%(held)s of %(num)s call took place", "%(held)s of %(num)s calls took place",
                     marked, language, held=stats.held)
            + f"\n({percent(share)})",
            fontsize=10,
        )
        share_ax.spines[["top", "right", "bottom"]].set_visible(False)
    else:
        fig.suptitle(gettext("No outcome marked yet: callslot bookings mark ID held", language),
                     fontsize=9, color="#555555")
    _save(fig, path)
    return fig


MAX_WEEK_LABELS = 12  # what fits under the chart, turned, without touching


def _labelled_weeks(weeks: tuple[WeekRow, ...]) -> list[int]:
    """The weeks (indices) whose Monday is written under the chart: all of up to
    MAX_WEEK_LABELS weeks; else the first week of every month, or of every 2nd, 3rd,
    6th or 12th month (or year), so that the labels never run into each other."""
    if len(weeks) <= MAX_WEEK_LABELS:
        return list(range(len(weeks)))
    firsts = [i for i, w in enumerate(weeks) if w.monday is not None and w.monday.day <= 7]
    if not firsts:  # no dates (weeks as names only): every n-th week
        step = -(-len(weeks) // MAX_WEEK_LABELS)
        return list(range(0, len(weeks), step))
    for months in (1, 2, 3, 6, 12):
        picked = [i for i in firsts
                  if (weeks[i].monday.month - 1) % months == 0]  # type: ignore[union-attr]
        if len(picked) <= MAX_WEEK_LABELS:
            return picked
    return picked[:: -(-len(picked) // MAX_WEEK_LABELS)]  # Januaries of every few years


def _save(fig: Any, path: Path) -> None:
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise CallslotError(f"cannot write the plot to {path}: {exc.strerror or exc}") from None
