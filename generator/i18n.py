"""Languages: the one registry of languages, gettext catalogs compiled at run time, dates.

The languages callslot speaks are the catalogs of the bundled default theme
(``themes/default/locale/<lang>/LC_MESSAGES/messages.po``): adding a language
is adding its catalog. Settings, the command line, the booking form and the
mails all ask :data:`LANGUAGES` / :func:`pick_language`.

Catalogs are compiled in memory when first used, so no ``.mo`` file is ever
committed or goes stale. Dates, weekday and month names come from Babel's
CLDR data in the reader's language. Babel is imported only when a date or a
catalog is needed: the handler imports this module, and a cold start stays short.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from generator.errors import BuildError

if TYPE_CHECKING:
    pass

__all__ = [
    "BUNDLED_THEMES",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "N_",
    "babel_locale",
    "clock_templates",
    "date_label",
    "day_label",
    "day_month_label",
    "duration_label",
    "format_or_list",
    "language_name",
    "og_locale",
    "pick_language",
    "short_day_label",
    "short_day_time",
    "short_time",
    "translations",
    "weekday_name",
    "zone_abbreviation",
    "zone_label",
]

# In a checkout (editable install) the themes sit beside the package; a wheel
# carries them as generator/_themes (see pyproject.toml).
_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT_THEMES = _PACKAGE.parent / "themes"
BUNDLED_THEMES = (
    _CHECKOUT_THEMES if (_CHECKOUT_THEMES / "default").is_dir() else _PACKAGE / "_themes"
)
DEFAULT_LANGUAGE = "de"

# The region behind a language where its most likely one would mislead: "en" pages
# use British conventions (24-hour clock, "30 November", no serial comma), as the
# owner is usually in Europe. Other languages take Babel's likely region (fr -> fr_FR).
_REGIONS = {"en": "en_GB"}


def _catalog_languages(themes: Path = BUNDLED_THEMES) -> tuple[str, ...]:
    """The languages with a catalog in the bundled default theme, the default first."""
    folder = themes / "default" / "locale"
    found = (
        sorted(
            p.name
            for p in folder.iterdir()
            if (p / "LC_MESSAGES" / "messages.po").is_file() and re.fullmatch(r"[a-z]{2,3}", p.name)
        )
        if folder.is_dir()
        else []
    )
    if DEFAULT_LANGUAGE in found:
        found.remove(DEFAULT_LANGUAGE)
    return (DEFAULT_LANGUAGE, *found)


# Every language callslot speaks: owner.language, site.languages, --language,
# the form's lang field and the mails take their choices from here.
LANGUAGES: tuple[str, ...] = _catalog_languages()


def N_(message: str) -> str:
    """Mark ``message`` as a msgid for the catalogs where it is written; it is translated
    where it is shown (``pybabel extract -k N_``)."""
    return message


def pick_language(value: str | None, fallback: str, among: Sequence[str] = ()) -> str:
    """``value`` when callslot speaks it (and, given ``among``, it is one of those), else
    ``fallback``: a form may post anything."""
    if value in LANGUAGES and (not among or value in among):
        return value
    return fallback


@lru_cache(maxsize=64)
def babel_locale(language: str) -> str:
    """The Babel locale of a language code: "de" -> "de_DE", "en" -> "en_GB", "pl" -> "pl_PL"."""
    if language in _REGIONS:
        return _REGIONS[language]
    from babel.core import get_global

    likely = get_global("likely_subtags").get(language, "")
    parts = likely.split("_")
    # "fr_Latn_FR": keep the language and the region, drop the script.
    if len(parts) >= 2 and parts[-1].isupper():
        return f"{language}_{parts[-1]}"
    return language


# How a day heads its group of slots: CLDR's full date without the year
# ("Montag, 30. November", "lundi 30 novembre", "lunes, 30 de noviembre"), except
# where that reads oddly: British English has no comma after the weekday in CLDR.
_DAY_PATTERNS = {"en": "EEEE, d MMMM"}


@lru_cache(maxsize=64)
def _day_pattern(language: str) -> str:
    pattern = _DAY_PATTERNS.get(language)
    if pattern is None:
        from babel import Locale

        full = Locale.parse(babel_locale(language)).date_formats["full"].pattern
        # Drop the year with what joins it: " y", ", y", " 'de' y", " y 'г'." ...
        pattern = re.sub(r"[\s,]*(?:'[^']*'\s*)?y+(?:\s*'[^']*')?\.?", "", full).strip(" ,")
    return pattern


def _locale(language: str) -> str:
    return babel_locale(language)


def language_name(language: str) -> str:
    """A language in its own words, as a language switcher shows it: "Deutsch", "Polski"."""
    from babel import Locale

    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]


def og_locale(language: str) -> str:
    """The Open Graph locale of a page language, e.g. "de_DE"."""
    return _locale(language)


def _first_of_month(text: str, day: date, language: str) -> str:
    """French writes the first of a month "1er": "mardi 1er décembre", "mar. 1er déc."."""
    if language == "fr" and day.day == 1:
        return re.sub(r"(?<!\d)1(?=[\s\u00a0\u202f]+\D)", "1er", text, count=1)
    return text


def day_label(day: date, language: str) -> str:
    """A local day as callers read it: "Montag, 30. November"."""
    from babel.dates import format_date

    text = format_date(day, _day_pattern(language), locale=_locale(language))
    return _first_of_month(text, day, language)


def day_month_label(day: date, language: str) -> str:
    """The day of the month and the month, without weekday nor year: "11. Januar",
    "11 de enero", "11 stycznia" (genitive); French writes the first "1er janvier"."""
    from babel.dates import format_skeleton

    return _first_of_month(format_skeleton("MMMMd", day, locale=_locale(language)), day, language)


# The full date of a call in mails: CLDR's "full" format, except British English,
# which CLDR writes without the comma mails have always had ("Monday, 30 November 2026").
_DATE_PATTERNS = {"en": "EEEE, d MMMM y"}
# A call's day and time in a subject line, short: "Mo 30.11. 09:00" / "Mon 30 Nov 09:00".
# Others take CLDR's own short day ("lun. 30 nov." for fr, "pon., 30 lis" for pl).
# German short weekdays carry a full stop ("Mo.") that subjects have always left out.
_SHORT_DAY_PATTERNS = {"de": "EEE|dd.MM.", "en": "EEE|d MMM"}


def date_label(day: date, language: str) -> str:
    """A day with its year, as in a confirmation: "Montag, 30. November 2026"."""
    from babel.dates import format_date

    pattern = _DATE_PATTERNS.get(language, "full")
    return _first_of_month(format_date(day, pattern, locale=_locale(language)), day, language)


def short_day_label(day: date, language: str) -> str:
    """A day in few letters, as a summary or a disclosure names it: "Di., 8. Dez."."""
    from babel.dates import format_skeleton

    return _first_of_month(format_skeleton("MMMEd", day, locale=_locale(language)), day, language)


def duration_label(days: int, language: str) -> str:
    """A number of days in words, with the language's plural: "90 Tage" / "1 day"."""
    from babel.units import format_unit

    return format_unit(days, "duration-day", length="long", locale=_locale(language))


def short_day_time(moment: datetime, tz: tzinfo, language: str) -> str:
    """Day and time for a subject line: "Mo 30.11. 9:00" / "Mon 30 Nov 9:00"."""
    from babel.dates import format_date, format_skeleton

    local = moment.astimezone(tz)
    pattern = _SHORT_DAY_PATTERNS.get(language)
    if pattern is None:
        day = format_skeleton("MMMEd", local.date(), locale=_locale(language))
    else:
        weekday, rest = pattern.split("|")
        day = (
            format_date(local.date(), weekday, locale=_locale(language)).rstrip(".")
            + " "
            + format_date(local.date(), rest, locale=_locale(language))
        )
    return f"{_first_of_month(day, local.date(), language)} {short_time(moment, tz, language)}"


def weekday_name(day: date, language: str) -> str:
    """The weekday alone: "Montag" / "Monday"."""
    from babel.dates import format_date

    return format_date(day, "EEEE", locale=_locale(language))


# How a time is written, where it differs from "9:00" / "10:30": French writes "9 h" and
# "10 h 30", with no-break spaces that keep the time on one line. The page, its script,
# the mails, the offer and the terminal all write a time this one way per language.
_TIMES = {"fr": ("H\u00a0'h'", "H\u00a0'h'\u00a0mm")}


def short_time(moment: datetime, tz: tzinfo, language: str) -> str:
    """A wall-clock time in ``tz`` as the language writes it: "9:00" (French "9 h", "10 h 30")."""
    from babel.dates import format_time

    local = moment.astimezone(tz)
    whole, with_minutes = _TIMES.get(language, ("H:mm", "H:mm"))
    pattern = whole if local.minute == 0 else with_minutes
    return format_time(local, pattern, locale=_locale(language))


def zone_abbreviation(moment: datetime, tz: tzinfo, language: str) -> str:
    """The zone's short name at ``moment``, as the language writes it: "MESZ" or "MEZ"
    (English "CEST", "CET"); "UTC+2" where the language has none (French)."""
    from babel.dates import get_timezone_name

    local = moment.astimezone(tz)
    name = get_timezone_name(local, "short", locale=_locale(language))
    if name[:1] in "+-" or name.startswith("GMT"):
        offset = local.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds()) // 60
        sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
        name = f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    return name


def clock_templates(language: str) -> tuple[str, str]:
    """short_time's two forms for the page's script, with {h} and {mm} for hour and minute:
    ("{h}:{mm}", "{h}:{mm}"); French ("{h} h", "{h} h {mm}")."""

    def template(pattern: str) -> str:
        return pattern.replace("'h'", "h").replace("mm", "{mm}").replace("H", "{h}")

    whole, with_minutes = _TIMES.get(language, ("H:mm", "H:mm"))
    return template(whole), template(with_minutes)


def zone_label(timezone: str, language: str) -> str:
    """A time zone as people name it: "Mitteleuropäische Zeit" (the IANA name as fallback)."""
    from babel.dates import get_timezone_name

    try:
        name = get_timezone_name(timezone, "long", locale=_locale(language), zone_variant="generic")
    except LookupError:
        return timezone
    # CLDR has no friendly name for UTC and some rare zones ("Unknown Region (UTC) Time").
    if timezone in ("UTC", "Etc/UTC") or "(" in name:
        return timezone
    if language == "it":
        # CLDR writes Italian zone names as titles ("Ora dell’Europa centrale"); inside a
        # sentence or after a colon Italian writes "ora", as French writes "heure".
        return name[:1].lower() + name[1:]
    return name


# Spanish and Italian give the hour an article that agrees with it: "a las 9:00" but
# "a la 1:00", "alle 9:00" but "all'1:00" (and "dall'1:00"). A message says "a las" /
# "alle" / "dalle" before its time; the one o'clock hours take the singular.
_ONE_OCLOCK = {
    "es": ((re.compile(r"\b([Aa]) las (1(?::|\.)\d\d)"), r"\1 la \2"),),
    "it": ((re.compile(r"\b([Aa]|[Dd]a)lle (1(?::|\.)\d\d)"), r"\1ll'\2"),),
}


def one_oclock(text: str, language: str) -> str:
    """ "a las 1:30" -> "a la 1:30" (Spanish), "alle 1:30" -> "all'1:30" (Italian)."""
    for pattern, replacement in _ONE_OCLOCK.get(language, ()):
        text = pattern.sub(replacement, text)
    return text


def format_or_list(items: Sequence[str], language: str) -> str:
    """ "9:00, 10:30 oder 14:00" / "9:00, 10:30 or 14:00"."""
    from babel.lists import format_list

    return format_list(list(items), style="or", locale=_locale(language))


@lru_cache(maxsize=32)
def _compile(path: Path, mtime_ns: int) -> bytes:
    """Compile one .po file to .mo bytes (cached per file version)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import PoFileError, read_po

    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, abort_invalid=True)
    except (PoFileError, UnicodeDecodeError, ValueError) as exc:
        raise BuildError(f"{path}: not a valid gettext catalog: {exc}") from None
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def translations(language: str, theme_dirs: Sequence[Path]) -> gettext.NullTranslations:
    """The catalogs of ``language`` from each theme folder, first folder winning.

    A site theme that overrides a few templates may bring its own catalog for
    its new strings; every other string falls back to the next theme's
    catalog, and finally to the source text.
    """
    result: gettext.NullTranslations | None = None
    for folder in theme_dirs:
        po = Path(folder) / "locale" / language / "LC_MESSAGES" / "messages.po"
        if not po.is_file():
            continue
        mo = _compile(po.resolve(), po.stat().st_mtime_ns)
        catalog = gettext.GNUTranslations(io.BytesIO(mo))
        if result is None:
            result = catalog
        else:
            result.add_fallback(catalog)
    return result if result is not None else gettext.NullTranslations()
