"""The one clock: every decision that depends on "now" takes it from here.

The build, the handler, `serve`, `notify`, `stats`, `check`, `offer` and
`bookings` decide from the current time: which slots are offered, whether a
slot is past, when a mail is retried. They all read it through a
:data:`Clock` (a function returning an aware UTC ``datetime``), so that a test
or a preview can pin it: pass ``clock=`` / ``now=``, give the CLI ``--now``,
or pin a whole process (a WSGI server, Lambda, `callslot serve`) with
``CALLSLOT_NOW``. Code elsewhere never calls ``datetime.now()`` or
``time.time()`` for a decision; ``tests/test_clock.py`` checks that.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from generator.errors import ConfigError

__all__ = ["NOW_ENV", "Clock", "clock_from_env", "fixed_clock", "parse_moment", "system_clock"]

Clock = Callable[[], datetime]
"""Returns the current moment as an aware datetime in UTC."""

NOW_ENV = "CALLSLOT_NOW"
"""Pins the clock of a whole process (tests, previews); unset in production."""


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


def parse_moment(value: str, *, field: str = "--now") -> datetime:
    """An ISO-8601 time with a UTC offset (``Z`` allowed), as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{value!r} is not an ISO-8601 time; write e.g. 2026-11-30T08:00+01:00", field=field
        ) from None
    if moment.tzinfo is None:
        # A time without offset would be read in the machine's zone: not reproducible.
        raise ConfigError(f"{value!r} has no UTC offset; add one, e.g. +01:00 or Z", field=field)
    return moment.astimezone(UTC)


def fixed_clock(moment: datetime) -> Clock:
    """A clock that always answers ``moment`` (tests, reproducible builds)."""
    if moment.tzinfo is None:
        raise ValueError("a pinned clock needs an aware datetime")
    pinned = moment.astimezone(UTC)
    return lambda: pinned


def clock_from_env(env: Mapping[str, str] | None = None) -> Clock:
    """The system clock, or the moment CALLSLOT_NOW pins (checked here, so a typo fails at
    start-up instead of at the first booking)."""
    env = os.environ if env is None else env
    value = env.get(NOW_ENV)
    if not value:
        return system_clock
    return fixed_clock(parse_moment(value, field=NOW_ENV))
