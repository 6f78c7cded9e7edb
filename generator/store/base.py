"""The booking store's interface: one small ABC, one class per backend.

Bookings and their notification outbox live in one store, and a booking and
its outbox rows are written in one transaction: a booking is never recorded
without its notifications, nor a notification queued without its booking.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from generator.domain import Booking, OutboxItem

if TYPE_CHECKING:
    from generator.config.settings import BookingRules

__all__ = [
    "ANNOUNCEMENTS",
    "Booking",
    "BookingCheck",
    "DayFull",
    "MoveRefused",
    "OutboxItem",
    "SlotTaken",
    "Store",
    "day_limits",
]

# Outbox rows that announce a call's state (not reminders, not the build hook).
ANNOUNCEMENTS = ("booked", "moved", "cancelled")

# Called inside the booking transaction with the confirmed (start, end) around the day;
# raises to refuse (the transaction is rolled back and the exception passes through).
BookingCheck = Callable[[list[tuple[datetime, datetime]]], None]


class SlotTaken(Exception):
    """A confirmed booking already overlaps the requested time (any call type)."""


class DayFull(Exception):
    """The owner's maximum number of calls on that local day is reached."""


class MoveRefused(Exception):
    """A call that cannot be moved at all: ``reason`` is "cancelled" or "begun"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def day_limits(rules: BookingRules, day_start: datetime, day_end: datetime) -> dict[str, Any]:
    """What Store.book and Store.move check a call against besides other calls: the
    owner's local day [day_start, day_end), its most calls, the pause around each call."""
    return {
        "day_start": day_start,
        "day_end": day_end,
        "max_per_day": rules.max_per_day,
        "buffer_before": rules.buffer_before,
        "buffer_after": rules.buffer_after,
    }


class Store(ABC):
    """Bookings and their outbox. Implementations: SQLiteStore, PostgresStore."""

    @abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the schema (tracked in a version table)."""

    @abstractmethod
    def book(
        self,
        booking: Booking,
        *,
        cancel_token_hash: str,
        idempotency_key: str,
        channels: Sequence[str],
        day_start: datetime,
        day_end: datetime,
        max_per_day: int | None,
        buffer_before: timedelta = timedelta(0),
        buffer_after: timedelta = timedelta(0),
        move_token_hash: str | None = None,
        reminders: Sequence[tuple[str, datetime]] = (),
        check: BookingCheck | None = None,
    ) -> tuple[Booking, bool]:
        """Record a booking and its outbox rows atomically.

        ``reminders`` are (channel, due) outbox rows of the "reminder" event,
        queued with the booking and sent when due.

        Returns (booking, created). The same idempotency key again returns the
        first booking with created=False. Raises SlotTaken when a confirmed
        booking overlaps [start, end), DayFull when ``max_per_day`` confirmed
        bookings already start within [day_start, day_end).

        With buffers, a confirmed booking widened to [start - buffer_before,
        end + buffer_after) must not overlap either (the owner's pause between
        calls), checked in the same transaction.

        ``check``, when given, decides availability in the same transaction, after
        the idempotency key was looked up and before the insert: it gets the confirmed
        (start, end) reaching into [day_start - buffers, day_end + buffers) and raises
        to refuse. So a resubmitted form is answered with its booking, never refused
        because its own first copy took the time a moment earlier.
        """

    @abstractmethod
    def get(self, booking_id: str) -> Booking | None: ...

    @abstractmethod
    def by_cancel_hash(self, token_hash: str) -> Booking | None: ...

    @abstractmethod
    def by_move_hash(self, token_hash: str) -> Booking | None:
        """The booking whose move link carries a token with this hash."""

    @abstractmethod
    def move(
        self,
        booking_id: str,
        *,
        start: datetime,
        end: datetime,
        now: datetime,
        channels: Sequence[str],
        reminders: Sequence[tuple[str, datetime]],
        day_start: datetime,
        day_end: datetime,
        max_per_day: int | None,
        buffer_before: timedelta = timedelta(0),
        buffer_after: timedelta = timedelta(0),
    ) -> Booking | None:
        """Move a confirmed call to [start, end) in one transaction, or change nothing.

        The new time is checked as :meth:`book` checks a new call (overlap with
        buffers, ``max_per_day`` within [day_start, day_end)), leaving the call
        itself out; its SEQUENCE rises; its pending reminders are dropped and
        ``reminders`` queued for the new time; ``channels`` are queued for the
        "moved" event with the old time. None when unknown; MoveRefused when the
        call is cancelled or has begun at ``now``; SlotTaken or DayFull as book().
        """

    @abstractmethod
    def by_idempotency_key(self, key: str) -> Booking | None:
        """The booking a form with this key already made (a resubmit), if any."""

    @abstractmethod
    def cancel(self, booking_id: str, *, now: datetime, channels: Sequence[str]) -> Booking | None:
        """Cancel a confirmed booking and queue ``channels`` for the "cancelled" event.

        Its pending reminders are dropped in the same transaction.
        Returns the updated booking, None when unknown; cancelling twice is a no-op.
        """

    @abstractmethod
    def taken(
        self, after: datetime, *, before: datetime | None = None
    ) -> list[tuple[datetime, datetime]]:
        """(start, end) of confirmed bookings ending after ``after`` (and starting before
        ``before``, when given), sorted; nothing personal."""

    def taken_by_others(
        self, booking: Booking, after: datetime, *, before: datetime | None = None
    ) -> list[tuple[datetime, datetime]]:
        """As :meth:`taken`, without ``booking`` itself: a call being moved does not
        block its own way."""
        taken = self.taken(after, before=before)
        if (booking.start, booking.end) in taken:
            taken.remove((booking.start, booking.end))
        return taken

    @abstractmethod
    def bookings(
        self, *, since: datetime | None = None, include_cancelled: bool = False
    ) -> list[Booking]:
        """Bookings whose call ends after ``since`` (all when None), sorted by start."""

    @abstractmethod
    def set_outcome(self, booking_id: str, outcome: str) -> Booking | None: ...

    @abstractmethod
    def claim_outbox(
        self,
        *,
        now: datetime,
        worker: str,
        lease: timedelta,
        include_waiting: bool = False,
        booking_id: str | None = None,
        limit: int = 50,
        channels: Sequence[str] | None = None,
    ) -> list[OutboxItem]:
        """Atomically claim due pending rows for ``worker`` for ``lease``.

        With ``channels``, only rows of those channels: the others wait, untouched,
        until their channel is configured (a booking made before mail was set up).

        A row claimed by one worker is not returned to another until the lease
        runs out, so two workers never send the same row. ``include_waiting``
        also claims rows still waiting out their backoff.
        """

    @abstractmethod
    def finish_outbox(
        self, item_id: int, *, sent: bool, error: str = "", next_attempt_at: datetime | None = None
    ) -> None:
        """Mark a claimed row sent, or failed with a retry time (None = give up)."""

    @abstractmethod
    def outbox(
        self, *, booking_id: str | None = None, due_by: datetime | None = None
    ) -> list[OutboxItem]:
        """Outbox rows in the order they were queued: all, one booking's, or (with
        ``due_by``) only the pending ones due by then."""

    @abstractmethod
    def mark_handoff(self, item_id: int, stage: str) -> None:
        """Record how far a claimed mail got: "data" (about to send DATA) or "accepted"
        (the server took it). Cleared when the row is finished."""

    @abstractmethod
    def release_claims(self, *, now: datetime, alive: Callable[[str], bool]) -> list[int]:
        """Release the claims of workers that ``alive`` says are gone (a crashed sender),
        instead of waiting out their lease: a row the server had accepted is marked
        sent, any other is due again at once. Returns the released rows' ids."""

    @abstractmethod
    def rate_hit(self, key: str, *, now: datetime, window: timedelta, limit: int) -> bool:
        """Count one request for ``key``; False when over ``limit`` within ``window``."""

    @abstractmethod
    def rate_refund(self, key: str, *, at: datetime) -> None:
        """Take back one hit counted for ``key`` at ``at``: the attempt it stood for
        booked nothing (a lost race, a replay), and only bookings count."""

    @abstractmethod
    def rate_retry_after(self, key: str, *, now: datetime, window: timedelta) -> timedelta:
        """How long until the oldest hit of ``key`` leaves ``window`` (Retry-After)."""

    @abstractmethod
    def erasable(self, *, ended_before: datetime) -> list[Booking]:
        """Bookings whose call ended by ``ended_before`` and still hold personal data."""

    @abstractmethod
    def erase(self, booking_ids: Sequence[str], *, now: datetime) -> int:
        """Erase the personal data of these bookings and their outbox rows, in one
        transaction, leaving no copy in the database files; returns how many bookings
        were erased now (erasing twice changes nothing)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise when the database cannot be reached (health checks, `callslot check`)."""

    @abstractmethod
    def close(self) -> None: ...
