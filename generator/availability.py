"""Settings + busy intervals + now -> open slots, laid on the owner's wall-clock grid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, order=True)
class Slot:
    """One bookable call: ``start`` and ``end`` are aware datetimes in UTC."""

    start: datetime
    end: datetime
    call_type: str
