"""Open slots -> a reply ready to paste into an email: a few well-spread times, each with a link.

"Wie passt es bei Ihnen am Montag um 9:00, 10:30 oder 14:00 Uhr? Mögen Sie
mir schon ein Stichwort nennen?" The wording comes from the theme's gettext
catalogs, in the site's language; each link opens the booking page with that
slot pre-selected (``?slot=<slot_id>``, applied by the page's script).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from generator.config.settings import Settings, unknown_call_type
from generator.domain import Slot
from generator.errors import BuildError, ConfigError
from generator.i18n import (
    N_,
    day_label,
    day_month_label,
    format_or_list,
    short_time,
    zone_abbreviation,
)
from generator.page.theme import Theme, load_theme
from generator.page.viewdata import page_path
from generator.signing import slot_id

__all__ = ["Offer", "make_offer", "offer_text", "pick_spread", "slot_link"]

# Proposals closer than this feel like one choice ("9:00, 9:30 or 10:00"): keep them apart.
MIN_GAP = timedelta(minutes=90)


@dataclass(frozen=True)
class Offer:
    call_type: str
    slots: tuple[Slot, ...]
    links: tuple[str, ...]  # one per slot, same order
    text: str  # the reply, ready to paste


def pick_spread(slots: Sequence[Slot], count: int, tz: tzinfo) -> list[Slot]:
    """The first ``count`` slots that are well spread: apart in time and over several days.

    Walks the slots in time order and keeps one when it starts at least
    MIN_GAP after the previous kept one and its local day has fewer than
    half of ``count`` proposals (so three proposals span at least two days).
    When that finds too few, the per-day limit and then the gap are dropped.
    """
    ordered = sorted(slots)
    if count <= 0:
        return []
    per_day = max(1, math.ceil(count / 2))
    for gap, cap in ((MIN_GAP, per_day), (MIN_GAP, None), (timedelta(0), None)):
        chosen: list[Slot] = []
        days: dict[date, int] = {}
        for slot in ordered:
            day = slot.start.astimezone(tz).date()
            if chosen and slot.start - chosen[-1].start < gap:
                continue
            if cap is not None and days.get(day, 0) >= cap:
                continue
            chosen.append(slot)
            days[day] = days.get(day, 0) + 1
            if len(chosen) == count:
                return chosen
    return chosen


def slot_link(settings: Settings, slot: Slot, language: str | None = None) -> str:
    """The booking page URL (in ``language``'s page, with site.languages) that pre-selects
    ``slot``; relative without site.base_url."""
    path = page_path(settings, slot.call_type, language)
    return f"{settings.site.base_url}{path}?slot={slot_id(slot)}"


# One message per weekday: languages put a weekday in a case of its own or give it an
# article ("am Montag", "w środę", "el miércoles"), which no single pattern can do.
_WEEKDAY_AT = (
    N_("Monday at %(times)s"),
    N_("Tuesday at %(times)s"),
    N_("Wednesday at %(times)s"),
    N_("Thursday at %(times)s"),
    N_("Friday at %(times)s"),
    N_("Saturday at %(times)s"),
    N_("Sunday at %(times)s"),
)
# A day a week or more away also gets its date, and the weekday keeps its article or
# case: "am Montag, 11. Januar, um", "le lundi 11 janvier à", "w poniedziałek, 11 stycznia, o".
_WEEKDAY_DATE_AT = (
    N_("Monday, %(date)s at %(times)s"),
    N_("Tuesday, %(date)s at %(times)s"),
    N_("Wednesday, %(date)s at %(times)s"),
    N_("Thursday, %(date)s at %(times)s"),
    N_("Friday, %(date)s at %(times)s"),
    N_("Saturday, %(date)s at %(times)s"),
    N_("Sunday, %(date)s at %(times)s"),
)


def _day_words(theme: Theme, day: date, today: date, language: str, times: str) -> str:
    """ "am Montag um 9:00 oder 10:30 Uhr" / "Monday at 9:00 or 10:30"."""
    if day == today:
        return theme.gettext("today at %(times)s", language, times=times)
    if day == today + timedelta(days=1):
        return theme.gettext("tomorrow at %(times)s", language, times=times)
    # A weekday alone is clear within the coming week; later days also get their date.
    if day - today < timedelta(days=7):
        return theme.gettext(_WEEKDAY_AT[day.weekday()], language, times=times)
    return theme.gettext(
        _WEEKDAY_DATE_AT[day.weekday()], language,
        date=day_month_label(day, language), times=times,
    )


def _join_days(
    theme: Theme, options: Sequence[str], groups: Iterable[Sequence[Slot]], language: str
) -> str:
    """The days' proposals as one list a person would write.

    One time per day reads as a plain list ("today at 15:30, tomorrow at 10:30
    or Friday at 9:00"). Once a day offers several times, its own "or" would
    blur where one day ends: "today at 15:30 or tomorrow at 10:30 or 14:00".
    The last day is then set apart as the language does it (English ", or",
    German by the closing "Uhr", Polish "albo" against the inner "lub").
    """
    if len(options) < 2 or all(len(g) == 1 for g in groups):
        return format_or_list(options, language)
    return theme.gettext(
        "%(earlier)s, or %(last)s", language, earlier=", ".join(options[:-1]), last=options[-1]
    )


def _times(day_slots: Sequence[Slot], tz: tzinfo, language: str) -> list[str]:
    """The day's times as the reply writes them; on the night the clocks go back a wall
    time that comes twice names its zone ("2:30 MESZ", "2:30 MEZ"), as the page does."""
    labels = [short_time(s.start, tz, language) for s in day_slots]
    return [
        f"{label} {zone_abbreviation(s.start, tz, language)}" if labels.count(label) > 1 else label
        for label, s in zip(labels, day_slots, strict=True)
    ]


def offer_text(
    settings: Settings,
    slots: Sequence[Slot],
    now: datetime,
    *,
    theme: Theme | None = None,
    language: str | None = None,
) -> str:
    """The reply proposing ``slots`` (in time order), with one link per slot."""
    theme = theme or load_theme(settings)
    language = language or settings.owner.language
    tz = settings.tz
    today = now.astimezone(tz).date()
    by_day: dict[date, list[Slot]] = {}
    for slot in sorted(slots):
        by_day.setdefault(slot.start.astimezone(tz).date(), []).append(slot)
    options = [
        _day_words(
            theme,
            day,
            today,
            language,
            format_or_list(_times(day_slots, tz, language), language),
        )
        for day, day_slots in by_day.items()
    ]
    lines = [
        theme.gettext("How about %(options)s?", language,
                      options=_join_days(theme, options, by_day.values(), language))
        + " "
        + theme.gettext("Could you give me a keyword in advance?", language),
        "",
        theme.gettext("Each link opens the booking page with that time selected:", language),
    ]
    times = {
        slot: time
        for day_slots in by_day.values()
        for slot, time in zip(day_slots, _times(day_slots, tz, language), strict=True)
    }
    for slot in sorted(slots):
        when = theme.gettext(
            "%(day)s, %(time)s",
            language,
            day=day_label(slot.start.astimezone(tz).date(), language),
            time=times[slot],
        )
        line = theme.gettext(
            "%(label)s: %(value)s", language, label=when, value=slot_link(settings, slot, language)
        )
        lines.append(f"- {line}")
    return "\n".join(lines) + "\n"


def make_offer(
    settings: Settings,
    now: datetime,
    *,
    count: int = 3,
    call_type: str | None = None,
    slots: Sequence[Slot] | None = None,
    theme: Theme | None = None,
    language: str | None = None,
) -> Offer:
    """Propose ``count`` open slots of ``call_type`` (default: the first call type), in
    ``language`` (one of the page's languages; default: the owner's).

    ``slots`` default to the open slots a build would offer now.
    """
    if count < 1:
        raise ConfigError("--count must be at least 1", field="--count")
    from generator.page.viewdata import site_languages

    languages = site_languages(settings)
    language = language or settings.owner.language
    if language not in languages:
        from generator.commands.phrases import join_and

        raise ConfigError(
            f"the booking page is not built in {language!r}, so the links would lead "
            f"nowhere; choose {join_and(list(languages), 'or')}, or add it to "
            "site.languages in site.toml",
            field="--language",
        )
    slug = call_type or settings.call_types[0].slug
    if settings.call_type(slug) is None:
        raise ConfigError(unknown_call_type(settings, slug), field="--call-type")
    if slots is None:
        from generator.page.build import offered_slots

        slots = offered_slots(settings, now)
    chosen = pick_spread([s for s in slots if s.call_type == slug], count, settings.tz)
    if not chosen:
        from generator.commands.phrases import day_and_time

        local = now.astimezone(settings.tz)
        until = (now + settings.booking.horizon).astimezone(settings.tz)
        raise BuildError(
            f"no open slot of {slug!r} to offer from {day_and_time(local)} to "
            f"{day_and_time(until)} ({settings.owner.timezone}); the calendars may be full, "
            "or check availability (its hours and [[availability.closed]] ranges), "
            "booking.notice and booking.horizon in site.toml"
        )
    theme = theme or load_theme(settings)
    return Offer(
        call_type=slug,
        slots=tuple(chosen),
        links=tuple(slot_link(settings, s, language) for s in chosen),
        text=offer_text(settings, chosen, now, theme=theme, language=language),
    )
