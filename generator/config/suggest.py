""""Did you mean ...?": the closest known name to a mistyped one (time zones, keys, slugs).

A wrong name gets a suggestion when a known one matches it ignoring case, or
is a close spelling (difflib's ratio); the message then names the fix instead
of listing hundreds of choices.
Languages are also found by name: "french", "Polski", "Deutsch", "fr-FR" mean a code.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

__all__ = [
    "closest",
    "closest_language",
    "closest_timezone",
    "did_you_mean",
    "language_hint",
    "offset_hint",
]


def closest(word: str, choices: Iterable[str], *, cutoff: float = 0.75) -> str | None:
    """The known name closest to ``word``: same letters in another case first, then a
    close spelling; None when nothing is close enough to be a likely typo."""
    known = list(choices)
    folded = word.strip().casefold()
    if not folded:
        return None
    for choice in known:
        if choice.casefold() == folded:
            return choice
    by_fold = {c.casefold(): c for c in known}
    found = difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=cutoff)
    return by_fold[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.75) -> str:
    """ " (did you mean 'x'?)" or "" (to append to a message)."""
    match = closest(word, choices, cutoff=cutoff)
    return f" (did you mean {match!r}?)" if match and match != word else ""


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    # Read once and only on the error path: listing tzdata takes a few tens of ms.
    from zoneinfo import available_timezones

    return tuple(sorted(z for z in available_timezones() if not z.startswith(("posix/", "right/"))))


@lru_cache(maxsize=1)
def _renamed() -> dict[str, str]:
    # CLDR's aliases: an old zone name -> today's ("Europe/Kiev" -> "Europe/Kyiv").
    from babel.core import get_global

    zones = set(_zones())
    return {old: new for old, new in get_global("zone_aliases").items() if new in zones}


def _current(zone: str) -> str:
    return _renamed().get(zone, zone)


# Languages whose names for cities are searched ("Wien", "Zürich", "Varsovie"): CLDR's
# exemplar cities of every zone, in the languages callers of a European owner use most.
_CITY_LANGUAGES = ("en", "de", "fr", "it", "es", "nl", "pl", "pt", "cs", "da", "sv")

# Large cities that are no zone's exemplar city in any language, and the zone they keep.
_LARGE_CITIES = {
    "hamburg": "Europe/Berlin", "munich": "Europe/Berlin", "munchen": "Europe/Berlin",
    "koln": "Europe/Berlin", "cologne": "Europe/Berlin", "frankfurt": "Europe/Berlin",
    "stuttgart": "Europe/Berlin", "dusseldorf": "Europe/Berlin", "leipzig": "Europe/Berlin",
    "graz": "Europe/Vienna", "salzburg": "Europe/Vienna", "linz": "Europe/Vienna",
    "geneva": "Europe/Zurich", "genf": "Europe/Zurich", "basel": "Europe/Zurich",
    "bern": "Europe/Zurich", "milan": "Europe/Rome", "barcelona": "Europe/Madrid",
}


@lru_cache(maxsize=1)
def _cities() -> dict[str, str]:
    """A city's name, folded and without accents -> its zone: the zones' own cities
    ("berlin", "kyiv" before the old "kiev"), their names in _CITY_LANGUAGES ("wien",
    "zurich"), then _LARGE_CITIES."""
    from babel import Locale

    cities: dict[str, str] = {}
    zones = _zones()
    renamed = _renamed()
    for zone in sorted(zones, key=lambda z: z in renamed):  # today's names first
        if "/" in zone:
            cities.setdefault(_plain(zone.rsplit("/", 1)[1].replace("_", " ")), _current(zone))
    for code in _CITY_LANGUAGES:
        for zone, names in Locale.parse(code).time_zones.items():
            city = names.get("city")
            if city and _current(zone) in zones:
                cities.setdefault(_plain(city), _current(zone))
    for city, zone in _LARGE_CITIES.items():
        cities.setdefault(city, zone)
    return cities


def closest_timezone(name: str) -> str | None:
    """The IANA zone meant by a mistyped ``name``: "europe/berlin", "Europe/Berln", "Berlin",
    "Kiev" (today's name, Europe/Kyiv), "Wien", "Munich"."""
    zones = _zones()
    text = name.strip().replace(" ", "_")
    match = closest(text, zones, cutoff=0.8)
    if match:
        # Another case of an old name stays itself; a misspelling gets today's name.
        return match if match.casefold() == text.casefold() else _current(match)
    # A city alone ("berlin", "New York", "Wien"): compare with the cities of the zones.
    cities = _cities()
    city = closest(_plain(text.rsplit("/", 1)[-1].replace("_", " ")), cities, cutoff=0.8)
    return cities[city] if city else None


_OFFSET = re.compile(
    r"(?:(GMT|UTC|UT|Z)|[A-Z]{2,5})?\s*([+\-\u2212])\s*(\d{1,2})(?::?(\d\d))?", re.IGNORECASE
)


def offset_hint(name: str, *, now: datetime | None = None) -> str | None:
    """What to say about an offset written as a zone ("GMT+1", "UTC-5", "+01:00", "CET+1"):
    that it is no place and a place's offset changes with summer time, and which zones have
    that offset in standard time; None when ``name`` is no offset."""
    found = _OFFSET.fullmatch(name.strip())
    if not found:
        return None
    text = (f"{name.strip()!r} is an offset from UTC, not a place, and a place's offset "
            "changes with summer time; write the zone of your place")
    example = ', e.g. "Europe/Berlin"'
    hours, minutes = int(found.group(3)), int(found.group(4) or 0)
    if (found.group(1) is None and found.group(0)[:1].isalpha()) or hours > 14 or minutes > 59:
        return text + example  # "CET+1": CET's offset plus one? Better not to guess.
    sign = -1 if found.group(2) in "-\u2212" else 1
    offset = sign * timedelta(hours=hours, minutes=minutes)
    from zoneinfo import ZoneInfo

    from babel.core import get_global

    from generator.clock import system_clock

    # Which offset a zone has in standard time hardly changes: today's answer will do.
    moment = now or system_clock()
    regions = ("Europe/", "America/", "Asia/", "Africa/", "Australia/", "Pacific/")
    same = []
    # Windows' list names one zone for each region and offset: a short, well-known choice.
    for zone in dict.fromkeys(get_global("windows_zone_mapping").values()):
        local = moment.astimezone(ZoneInfo(zone))
        standard = (local.utcoffset() or timedelta(0)) - (local.dst() or timedelta(0))
        if zone.startswith(regions) and standard == offset:
            same.append(_current(zone))
    same.sort(key=lambda z: next(i for i, r in enumerate(regions) if z.startswith(r)))
    if same:
        sign_text = "-" if offset < timedelta(0) else "+"
        example = (f" (at {sign_text}{hours:02}:{minutes:02} in standard time, e.g. "
                   f"{', '.join(same[:4])})")
    return text + example


def _plain(text: str) -> str:
    """Folded and without accents: "Français" -> "francais"."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _language_names(codes: tuple[str, ...]) -> dict[str, str]:
    """Every name of each language in ``codes`` -> its code: in English, in itself and in
    the other languages ("german", "deutsch", "allemand"), and three-letter codes ("fra")."""
    from babel import Locale
    from babel.core import get_global

    names: dict[str, str] = {}
    for alias, code in get_global("language_aliases").items():
        if code in codes and re.fullmatch(r"[a-z]{3}", alias):
            names[alias] = code
    for code in codes:
        for reader in (code, *codes):
            try:
                name = Locale.parse(reader).languages.get(code)
            except (ValueError, LookupError):
                name = None
            if name:
                names.setdefault(_plain(name), code)
        names.setdefault(_plain(Locale.parse(code).english_name or code), code)
    return names


def closest_language(word: str, codes: Iterable[str]) -> str | None:
    """The language code meant by ``word``: a code in another case ("FR"), with a region
    ("pl-PL", "de_DE"), or a language's name in English or in any of ``codes``' languages
    ("french", "Polski", "Deutsch", "Francais"); None when nothing is close."""
    known = tuple(codes)
    match = closest(word, known, cutoff=1.0)
    if match:
        return match
    plain = _plain(word)
    base = re.split(r"[-_\s]", plain, maxsplit=1)[0]
    if base in known:
        return base
    if not plain:
        return None
    names = _language_names(known)
    name = names.get(plain) or names.get(base)
    if name:
        return name
    found = difflib.get_close_matches(plain, list(names), n=1, cutoff=0.8)
    return names[found[0]] if found else None


def language_hint(word: str, codes: Iterable[str]) -> str:
    """ " (did you mean 'fr'?)" for a language written as a name or in another case; or ""."""
    match = closest_language(word, codes)
    return f" (did you mean {match!r}?)" if match and match != word else ""
