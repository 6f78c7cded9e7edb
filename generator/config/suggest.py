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
from functools import lru_cache

__all__ = ["closest", "closest_language", "closest_timezone", "did_you_mean", "language_hint"]


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


def closest_timezone(name: str) -> str | None:
    """The IANA zone meant by a mistyped ``name``: "europe/berlin", "Europe/Berln", "Berlin"."""
    zones = _zones()
    text = name.strip().replace(" ", "_")
    match = closest(text, zones, cutoff=0.8)
    if match:
        return match
    # A city alone ("berlin", "New York"): compare with the last part of each zone.
    cities: dict[str, str] = {}
    for zone in zones:
        if "/" in zone:
            cities.setdefault(zone.rsplit("/", 1)[1].casefold(), zone)
    city = closest(text.rsplit("/", 1)[-1], cities, cutoff=0.8)
    return cities[city] if city else None


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
