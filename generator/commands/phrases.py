"""The owner's terminal English: counted nouns, lists, next steps, as a person writes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

__all__ = ["clock", "count", "day_and_time", "join_and", "see_the_page"]


def count(n: int, singular: str, plural: str | None = None) -> str:
    """ "1 call type", "2 call types", "0 calls"."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def join_and(items: Sequence[str], word: str = "and") -> str:
    """ "a", "a and b", "a, b and c" (no serial comma, as in the rest of the output)."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def see_the_page(index: Path, *, served: bool, keyed: bool = True) -> str:
    """The next step after a build: how to look at the page just written.

    ``served`` says the folder is the one `callslot serve` serves (public/ beside
    content/); a page built elsewhere with --out can only be opened as a file.
    ``keyed`` says CALLSLOT_SECRET is set; without it `serve` starts only with --dev.
    """
    shown = index.resolve().as_uri()
    if not served:
        return f"To see the page, open {shown} in a browser."
    serve = "callslot serve" if keyed else "callslot serve --dev"
    return (
        f"To see the page, open {shown} in a browser, or run `{serve}` and open "
        "http://127.0.0.1:8000/ (there the form books calls too)."
    )


def clock(moment: datetime) -> str:
    """A wall-clock time as the booking pages and mails write it: "9:00", "14:30"."""
    return f"{moment.hour}:{moment.minute:02d}"


def day_and_time(moment: datetime) -> str:
    """ "Mon 2026-11-30 9:00": a sortable date and the time as everywhere else."""
    return f"{moment:%a %Y-%m-%d} {clock(moment)}"
