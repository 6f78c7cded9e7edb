"""Retention: a call's personal data is erased once ``[privacy] keep`` has passed after it.

What stays is what `callslot stats` counts: call type, times, status, outcome
and the notice (booked at -> start). Run by `callslot notify`, by `callslot
serve`'s background loop and by `callslot bookings purge`; running it again
erases nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from generator.domain import Booking
from generator.store.base import Store

__all__ = ["PurgeReport", "purge_expired"]


@dataclass(frozen=True)
class PurgeReport:
    """The calls whose personal data was erased (or would be, on a dry run)."""

    due: tuple[Booking, ...]
    erased: int
    dry_run: bool
    keep: timedelta

    def summary(self) -> str:
        """One line for the owner; ids and times only, never what is being erased."""
        days = self.keep / timedelta(days=1)
        if not self.keep:
            over = "over"
        elif days >= 1:
            over = f"over for {days:g} days or more"
        else:
            over = f"over for {self.keep.total_seconds() / 3600:g} hours or more"
        if self.dry_run:
            due = len(self.due)
            return (f"{due} call{'' if due == 1 else 's'} {over} would have "
                    f"{'its' if due == 1 else 'their'} personal data erased "
                    "(dry run: nothing changed)")
        return (f"{self.erased} call{'' if self.erased == 1 else 's'} {over}: personal data "
                "erased (stats still count them)")


def purge_expired(
    store: Store, *, keep: timedelta, now: datetime, dry_run: bool = False
) -> PurgeReport:
    """Erase the personal data of every call that ended at least ``keep`` before ``now``."""
    due = tuple(store.erasable(ended_before=now - keep))
    erased = 0
    if due and not dry_run:
        erased = store.erase([b.id for b in due], now=now)
    return PurgeReport(due=due, erased=erased, dry_run=dry_run, keep=keep)
