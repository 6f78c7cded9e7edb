"""Languages: gettext catalogs compiled with Babel at run time, and locale-aware dates.

Themes keep their translations as ``locale/<lang>/LC_MESSAGES/messages.po``;
they are compiled in memory when a build starts, so no ``.mo`` file is ever
committed or goes stale. Dates, weekday and month names come from Babel's
CLDR data in the page's language.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date, format_time, get_timezone_name
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po

from generator.errors import BuildError

__all__ = [
    "LOCALES",
    "day_label",
    "format_or_list",
    "og_locale",
    "short_time",
    "time_label",
    "translations",
    "weekday_name",
    "zone_label",
]

# The Babel locale behind each page language: "en" pages use British English
# conventions (24-hour clock, "30 November", no serial comma), as the owner is
# usually in Europe; change here to add a language.
LOCALES = {"de": "de_DE", "en": "en_GB"}

# How a day heads its group of slots: "Montag, 30. November" / "Monday, 30 November".
_DAY_PATTERNS = {"de": "EEEE, d. MMMM", "en": "EEEE, d MMMM"}


def _locale(language: str) -> str:
    return LOCALES.get(language, language)


def og_locale(language: str) -> str:
    """The Open Graph locale of a page language, e.g. "de_DE"."""
    return _locale(language)


def day_label(day: date, language: str) -> str:
    """A local day as callers read it: "Montag, 30. November"."""
    pattern = _DAY_PATTERNS.get(language, "EEEE, d MMMM")
    return format_date(day, pattern, locale=_locale(language))


def weekday_name(day: date, language: str) -> str:
    """The weekday alone: "Montag" / "Monday"."""
    return format_date(day, "EEEE", locale=_locale(language))


def time_label(moment: datetime, tz: tzinfo, language: str) -> str:
    """A wall-clock time in ``tz`` with two-digit hours, as on the page: "09:00"."""
    return format_time(moment.astimezone(tz), "HH:mm", locale=_locale(language))


def short_time(moment: datetime, tz: tzinfo, language: str) -> str:
    """A wall-clock time as written in prose: "9:00"."""
    return format_time(moment.astimezone(tz), "H:mm", locale=_locale(language))


def zone_label(timezone: str, language: str) -> str:
    """A time zone as people name it: "Mitteleuropäische Zeit" (the IANA name as fallback)."""
    try:
        name = get_timezone_name(timezone, "long", locale=_locale(language), zone_variant="generic")
    except LookupError:
        return timezone
    # CLDR has no friendly name for UTC and some rare zones ("Unknown Region (UTC) Time").
    if timezone in ("UTC", "Etc/UTC") or "(" in name:
        return timezone
    return name


def format_or_list(items: Sequence[str], language: str) -> str:
    """ "9:00, 10:30 oder 14:00" / "9:00, 10:30 or 14:00"."""
    return format_list(list(items), style="or", locale=_locale(language))


@lru_cache(maxsize=32)
def _compile(path: Path, mtime_ns: int) -> bytes:
    """Compile one .po file to .mo bytes (cached per file version)."""
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
