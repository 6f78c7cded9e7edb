"""Calendars -> busy intervals: read ICS files and URLs, expand recurrences, merge in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, order=True)
class Busy:
    """A span of time the owner is not free, in UTC (start < end, both aware)."""

    start: datetime
    end: datetime
