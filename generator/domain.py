"""The nouns every layer shares: busy time, slots, bookings and their notifications.

Plain frozen dataclasses with aware UTC datetimes. The calendar reader makes
``Busy``, availability makes ``Slot``, the store maps its rows to ``Booking``
and ``OutboxItem``; pages, the handler, notifications and commands read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Booking", "Busy", "OutboxItem", "Slot"]


@dataclass(frozen=True, order=True)
class Busy:
    """A span of time the owner is not free, in UTC (start < end, both aware)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, order=True)
class Slot:
    """One bookable call: ``start`` and ``end`` are aware datetimes in UTC."""

    start: datetime
    end: datetime
    call_type: str


@dataclass(frozen=True)
class Booking:
    """A recorded call. Times are aware UTC datetimes."""

    id: str
    call_type: str
    start: datetime
    end: datetime
    name: str
    phone: str
    email: str
    topic: str
    note: str
    who_calls: str  # "owner" (the owner calls the caller) or "caller"
    language: str  # the page's language when booked: "de" or "en"
    caller_timezone: str  # IANA name reported by the caller's browser, or ""
    created_at: datetime
    status: str = "confirmed"  # or "cancelled"
    cancelled_at: datetime | None = None
    outcome: str | None = None  # "held" or "missed", marked by the owner afterwards
    sequence: int = 0  # iCalendar SEQUENCE; a move or a cancellation raises it
    consent_text: str = ""  # the consent sentence the caller ticked; "" when none was asked
    consent_at: datetime | None = None  # when the caller ticked it
    # When name, phone, email, topic, note and zone were erased ([privacy] keep, or
    # `callslot bookings forget`); what `callslot stats` counts stays.
    erased_at: datetime | None = None


@dataclass(frozen=True)
class OutboxItem:
    """One notification to send: a booking, a channel and what happened to it."""

    id: int
    booking_id: str
    channel: str  # "email:owner", "email:caller", "webhook:<index>", "build_hook"
    event: str  # "booked", "moved", "cancelled" or "reminder"
    # "pending", "sent", "failed" (gave up after the last attempt) or "dropped" (a
    # reminder of a time the call no longer has: it was moved or cancelled)
    status: str
    attempts: int
    last_error: str
    next_attempt_at: datetime  # for a reminder: when it is due
    # A "moved" row: the time the call had before, for "moved from ... to ...".
    previous_start: datetime | None = None
    previous_end: datetime | None = None
