"""A caller's rights: everything stored about them (`bookings export`), and its erasure
(`bookings forget`), found by their email address or phone number.

A phone number matches in any way of writing it ("0171 9988776",
"+49 171 998 87 76", "0049-171-9988776"): both sides are read as E.164 in the
owner's region by :func:`generator.phone.normalise`, the function the booking
form stores numbers with. An email address matches without regard to case
or to the form of its domain (müller.de and xn--mller-kva.de).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from generator.config.settings import Settings
from generator.contact import ascii_email
from generator.domain import Booking, OutboxItem
from generator.errors import CallslotError
from generator.store.base import Store

__all__ = ["Contact", "ForgetReport", "export_contact", "find_bookings", "forget_contact",
           "parse_contact"]


@dataclass(frozen=True)
class Contact:
    """Who asks: an email address (case-folded, ASCII domain) or an E.164 number."""

    given: str
    email: str = ""
    phone: str = ""


def parse_contact(text: str, settings: Settings) -> Contact:
    """The --contact value as a Contact; a CallslotError when it is neither."""
    from generator.phone import default_region, normalise

    given = text.strip()
    if "@" in given:
        address = ascii_email(given)
        if address is None or given.startswith("@") or given.endswith("@"):
            raise CallslotError(f"--contact {given!r} is not an email address")
        return Contact(given=given, email=address.casefold())
    number = normalise(given, default_region(settings.owner))
    if number is None:
        raise CallslotError(
            f"--contact {given!r} is neither an email address nor a phone number that can be "
            "dialled; write the number with its country code (+49 ...) if it is from abroad"
        )
    return Contact(given=given, phone=number)


def _same_email(stored: str, contact: Contact) -> bool:
    if not stored or not contact.email:
        return False
    return (ascii_email(stored.strip()) or stored.strip()).casefold() == contact.email


def _same_phone(stored: str, contact: Contact, region: str) -> bool:
    if not stored or not contact.phone:
        return False
    from generator.phone import normalise

    number = normalise(stored, region)
    if number is not None:
        return number == contact.phone
    # Stored before numbers were checked and not readable: the digits still tell.
    digits = "".join(ch for ch in stored if ch.isdigit())
    return bool(digits) and digits == contact.phone.lstrip("+")


def find_bookings(store: Store, contact: Contact, settings: Settings) -> list[Booking]:
    """Every booking still holding this contact's data, cancelled ones included, by start."""
    from generator.phone import default_region

    region = default_region(settings.owner)
    return [
        b
        for b in store.bookings(include_cancelled=True)
        if b.erased_at is None
        and (_same_email(b.email, contact) or _same_phone(b.phone, contact, region))
    ]


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _booking_json(settings: Settings, b: Booking) -> dict[str, Any]:
    return {
        "id": b.id,
        "call_type": b.call_type,
        "start": _when(b.start),
        "end": _when(b.end),
        "start_local": b.start.astimezone(settings.tz).isoformat(timespec="minutes"),
        "status": b.status,
        "name": b.name,
        "phone": b.phone,
        "email": b.email,
        "topic": b.topic,
        "note": b.note,
        "who_calls": b.who_calls,
        "language": b.language,
        "caller_timezone": b.caller_timezone,
        "booked_at": _when(b.created_at),
        "cancelled_at": _when(b.cancelled_at),
        "outcome": b.outcome,
        "consent_text": b.consent_text,
        "consent_at": _when(b.consent_at),
    }


def _outbox_json(item: OutboxItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "booking_id": item.booking_id,
        "channel": item.channel,
        "event": item.event,
        "status": item.status,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "next_attempt_at": _when(item.next_attempt_at),
    }


def export_contact(store: Store, contact: Contact, settings: Settings, *, now: datetime) -> str:
    """Everything stored about ``contact``, as JSON text."""
    from generator.config.privacy import describe_keep

    found = find_bookings(store, contact, settings)
    outbox = [_outbox_json(item) for b in found for item in store.outbox(booking_id=b.id)]
    data = {
        "contact": contact.given,
        "exported_at": _when(now),
        "owner": settings.owner.name,
        "bookings": [_booking_json(settings, b) for b in found],
        "notifications": outbox,
        # The rate limit counts requests per network address, never per person, and keeps
        # only a shortened hash of the address for at most a day: nothing to find by contact.
        "rate_limit_records": [],
        "kept_for": "personal data of a call is erased " + describe_keep(settings.privacy.keep),
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


@dataclass(frozen=True)
class ForgetReport:
    found: tuple[Booking, ...]
    cancelled: tuple[Booking, ...]  # calls still ahead, cancelled first (both sides told)
    erased: int
    notify_lines: tuple[str, ...]  # what happened to the cancellation notices
    # Calls cancelled whose caller could not be told now: kept (their contact with them)
    # until the notice goes out, or until the owner runs the command again.
    untold: tuple[Booking, ...] = ()


def forget_contact(
    store: Store,
    contact: Contact,
    settings: Settings,
    *,
    now: datetime,
    secret: bytes,
    found: Sequence[Booking] | None = None,
) -> ForgetReport:
    """Cancel the contact's calls still ahead (with the usual notices), then erase all
    their personal data; what `callslot stats` counts stays."""
    from generator.notify.outbox import channels_for, send_now

    bookings = list(found) if found is not None else find_bookings(store, contact, settings)
    cancelled: list[Booking] = []
    lines: list[str] = []
    channels = channels_for(settings, "cancelled")
    untold: list[Booking] = []
    for b in bookings:
        if b.status == "confirmed" and b.start > now:
            store.cancel(b.id, now=now, channels=channels)
            cancelled.append(b)
            if channels:
                # Sent now: once the data is erased, the notices could not be sent any more.
                report = send_now(settings, store, b.id, now=now, secret=secret)
                lines += [d.line(settings.tz) for d in report.deliveries]
                if any(d.channel == "email:caller" and d.outcome in ("retry", "failed")
                       for d in report.deliveries):
                    untold.append(b)  # erased now, the caller would never hear of it
    kept = {b.id for b in untold}
    erased = store.erase([b.id for b in bookings if b.id not in kept], now=now)
    return ForgetReport(found=tuple(bookings), cancelled=tuple(cancelled), erased=erased,
                        notify_lines=tuple(lines), untold=tuple(untold))
