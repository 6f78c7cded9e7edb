""""Did you mean ...?": the closest known name to a mistyped one (time zones, keys, slugs).

A wrong name gets a suggestion when a known one matches it ignoring case, or
is a close spelling (difflib's ratio); the message then names the fix instead
of listing hundreds of choices.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["closest", "closest_timezone", "did_you_mean"]


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
