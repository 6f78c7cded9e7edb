"""Bookings -> iCalendar: invitations for email (REQUEST / CANCEL) and the owner's feed.

Built with icalendar, times in UTC (every calendar app converts them to the
reader's zone, and no VTIMEZONE can be wrong). The UID is derived from the
booking id only, so the REQUEST, a later CANCEL and the feed entry all name
the same event and calendar apps update it instead of adding a second one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from generator.config.settings import Settings
from generator.domain import Booking

__all__ = [
    "REMINDER",
    "booking_uid",
    "bookings_feed",
    "call_description",
    "clean_address",
    "invitation",
]

PRODID = "-//callslot//callslot//EN"
REMINDER = timedelta(minutes=10)  # long enough to look at the topic before the call

_TEXT = {
    "de": {
        "summary_owner": "Telefonat: {topic} – {name}",
        "summary_caller": "Telefonat mit {owner}: {topic}",
        "topic": "Thema",
        "phone": "Telefon",
        "email": "E-Mail",
        "note": "Notiz",
        "owner_calls": "{owner} ruft {name} an: {phone}",
        "caller_calls": "{name} ruft {owner} an: {phone}",
        "cancel": "Absagen",
        "reminder": "Telefonat in 10 Minuten: {topic}",
    },
    "en": {
        "summary_owner": "Call: {topic} – {name}",
        "summary_caller": "Call with {owner}: {topic}",
        "topic": "Topic",
        "phone": "Phone",
        "email": "Email",
        "note": "Note",
        "owner_calls": "{owner} calls {name}: {phone}",
        "caller_calls": "{name} calls {owner}: {phone}",
        "cancel": "Cancel",
        "reminder": "Call in 10 minutes: {topic}",
    },
}


_ADDRESS_RE = re.compile(r"^[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+\.[^\s@<>,;:\"()\[\]\\]+$")


def clean_address(value: str | None) -> str | None:
    """A plain addr-spec, or None when the value is not one (no display name, no CR/LF)."""
    if not value:
        return None
    from generator.contact import ascii_email

    value = value.strip()
    if not _ADDRESS_RE.match(value) or len(value) > 254:
        return None
    # An IDN domain in its xn-- form; a non-ASCII local part would need SMTPUTF8, and
    # Python writes it as encoded words that no reply reaches.
    return ascii_email(value)


def _t(language: str) -> dict[str, str]:
    return _TEXT.get(language, _TEXT["en"])


def booking_uid(settings: Settings, booking: Booking) -> str:
    """A stable, globally unique UID: the booking id at the site's host."""
    host = urlsplit(settings.site.base_url).hostname or "callslot.invalid"
    return f"{booking.id}@{host}"


def who_calls_line(settings: Settings, booking: Booking, language: str) -> str:
    """ "<owner> calls <caller>: <number>" or the other way round, with the number to dial."""
    t = _t(language)
    if booking.who_calls == "caller":
        return t["caller_calls"].format(
            owner=settings.owner.name, name=booking.name, phone=settings.owner.phone or "—"
        )
    return t["owner_calls"].format(
        owner=settings.owner.name, name=booking.name, phone=booking.phone or "—"
    )


def call_description(
    settings: Settings, booking: Booking, language: str, *, cancel_url: str | None = None
) -> str:
    """The event's DESCRIPTION: topic, who calls whom and the number, contact, note."""
    t = _t(language)
    lines = [f"{t['topic']}: {booking.topic}", who_calls_line(settings, booking, language)]
    if booking.phone:
        lines.append(f"{t['phone']}: {booking.phone}")
    if booking.email:
        lines.append(f"{t['email']}: {booking.email}")
    if booking.note:
        lines.append(f"{t['note']}: {booking.note}")
    if cancel_url:
        lines.append(f"{t['cancel']}: {cancel_url}")
    return "\n".join(lines)


def _summary(settings: Settings, booking: Booking, audience: str, language: str) -> str:
    key = "summary_caller" if audience == "caller" else "summary_owner"
    return _t(language)[key].format(
        topic=booking.topic, name=booking.name, owner=settings.owner.name
    )


def _address(email: str, name: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    # A parameter value cannot hold a line break or a quote; the form may send both.
    address.params["CN"] = vText(" ".join(name.replace('"', "'").split()))
    for key, value in params.items():
        address.params[key] = value
    return address


def _event(
    settings: Settings, booking: Booking, *, summary: str, description: str, stamp: datetime
) -> Event:
    event = Event()
    event.add("uid", booking_uid(settings, booking))
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", booking.start.astimezone(UTC))
    event.add("dtend", booking.end.astimezone(UTC))
    event.add("summary", summary)
    event.add("description", description)
    event.add("created", booking.created_at.astimezone(UTC))
    return event


def invitation(
    settings: Settings,
    booking: Booking,
    *,
    method: str,
    audience: str,
    now: datetime,
    cancel_url: str | None = None,
) -> bytes:
    """An iTIP message (RFC 5546) for one booking.

    ``method`` is "REQUEST" (booked) or "CANCEL"; ``audience`` is "owner" or
    "caller" and chooses the language and summary. The SEQUENCE is the
    booking's; a CANCEL is always at least 1 so it supersedes the REQUEST.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unknown iTIP method {method!r}")
    language = booking.language if audience == "caller" else settings.owner.language
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    event = _event(
        settings,
        booking,
        summary=_summary(settings, booking, audience, language),
        description=call_description(settings, booking, language, cancel_url=cancel_url),
        stamp=now,
    )
    sequence = booking.sequence if method == "REQUEST" else max(booking.sequence, 1)
    event.add("sequence", sequence)
    organizer = clean_address(settings.owner.email) or clean_address(
        settings.notify.email.sender if settings.notify.email else None
    )
    if organizer:
        event.add("organizer", _address(organizer, settings.owner.name))
    attendee = clean_address(booking.email)
    if attendee:
        event.add(
            "attendee",
            _address(
                attendee,
                booking.name,
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="NEEDS-ACTION" if method == "REQUEST" else "DECLINED",
                RSVP="FALSE",
            ),
        )
    if method == "REQUEST":
        event.add("status", "CONFIRMED")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -REMINDER)
        alarm.add("description", _t(language)["reminder"].format(topic=booking.topic))
        event.add_component(alarm)
    else:
        event.add("status", "CANCELLED")
    cal.add_component(event)
    return cal.to_ical()


def bookings_feed(settings: Settings, bookings: Iterable[Booking]) -> bytes:
    """The owner's private subscription feed: each confirmed call as an event.

    No METHOD (a published calendar, not an iTIP message). DTSTAMP is the
    booking's creation time so the feed is byte-for-byte stable between polls.
    """
    language = settings.owner.language
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "callslot" if not settings.site.title else settings.site.title)
    for booking in bookings:
        if booking.status != "confirmed":
            continue
        event = _event(
            settings,
            booking,
            summary=_summary(settings, booking, "owner", language),
            description=call_description(settings, booking, language),
            stamp=booking.created_at,
        )
        event.add("sequence", booking.sequence)
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()
