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
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from generator.config.settings import Settings
from generator.domain import Booking
from generator.notify.wording import theme_for

if TYPE_CHECKING:
    from generator.page.theme import Theme

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


def booking_uid(settings: Settings, booking: Booking) -> str:
    """A stable, globally unique UID: the booking id at the site's host."""
    host = urlsplit(settings.site.base_url).hostname or "callslot.invalid"
    return f"{booking.id}@{host}"


def who_calls_line(
    settings: Settings, booking: Booking, language: str, *, theme: Theme | None = None
) -> str:
    """ "<owner> calls <caller>: <number>" or the other way round, with the number to dial."""
    theme = theme or theme_for(settings)
    if booking.who_calls == "caller":
        return theme.gettext(
            "%(name)s calls %(owner)s: %(phone)s",
            language,
            owner=settings.owner.name,
            name=booking.name,
            phone=settings.owner.phone or "—",
        )
    return theme.gettext(
        "%(owner)s calls %(name)s: %(phone)s",
        language,
        owner=settings.owner.name,
        name=booking.name,
        phone=_shown(settings, booking.phone) or "—",
    )


def _shown(settings: Settings, phone: str) -> str:
    """A stored number (E.164) as the owner dials it: "030 1234567" within their country."""
    from generator.phone import default_region, display_number

    return display_number(phone, default_region(settings.owner))


def call_description(
    settings: Settings,
    booking: Booking,
    language: str,
    *,
    cancel_url: str | None = None,
    theme: Theme | None = None,
) -> str:
    """The event's DESCRIPTION: topic, who calls whom and the number, contact, note."""
    theme = theme or theme_for(settings)

    def line(label: str, value: str) -> str:
        return theme.gettext(
            "%(label)s: %(value)s", language, label=theme.gettext(label, language), value=value
        )

    lines = [line("Topic", booking.topic)]
    if booking.note:
        lines.append(line("Note", booking.note))
    lines.append(who_calls_line(settings, booking, language, theme=theme))
    if booking.phone:
        from generator.phone import tel_uri

        # The tel: link makes the number one tap on a phone's calendar app.
        shown = _shown(settings, booking.phone)
        if booking.phone.startswith("+"):
            shown = f"{shown} ({tel_uri(booking.phone)})"
        lines.append(line("Phone", shown))
    if booking.email:
        lines.append(line("Email", booking.email))
    if cancel_url:
        lines.append(line("Cancel this call", cancel_url))
    return "\n".join(lines)


def _summary(
    settings: Settings, booking: Booking, audience: str, language: str, theme: Theme
) -> str:
    if audience == "caller":
        return theme.gettext(
            "Call with %(owner)s: %(topic)s",
            language,
            owner=settings.owner.name,
            topic=booking.topic,
        )
    return theme.gettext(
        "Call: %(topic)s – %(name)s", language, topic=booking.topic, name=booking.name
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
    theme: Theme | None = None,
) -> bytes:
    """An iTIP message (RFC 5546) for one booking.

    ``method`` is "REQUEST" (booked) or "CANCEL"; ``audience`` is "owner" or
    "caller" and chooses the language and summary. The SEQUENCE is the
    booking's; a CANCEL is always at least 1 so it supersedes the REQUEST.
    A CANCEL never carries the cancel link: there is nothing left to cancel.
    """
    theme = theme or theme_for(settings)
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unknown iTIP method {method!r}")
    language = booking.language if audience == "caller" else settings.owner.language
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    if method == "CANCEL":
        cancel_url = None
    event = _event(
        settings,
        booking,
        summary=_summary(settings, booking, audience, language, theme),
        description=call_description(
            settings, booking, language, cancel_url=cancel_url, theme=theme
        ),
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
        minutes = int(REMINDER.total_seconds() // 60)
        alarm.add(
            "description",
            theme.ngettext(
                "Call in %(num)d minute: %(topic)s",
                "Call in %(num)d minutes: %(topic)s",
                minutes,
                language,
                topic=booking.topic,
            ),
        )
        event.add_component(alarm)
    else:
        event.add("status", "CANCELLED")
    cal.add_component(event)
    return cal.to_ical()


def bookings_feed(
    settings: Settings,
    bookings: Iterable[Booking],
    *,
    include_cancelled: bool = False,
    theme: Theme | None = None,
) -> bytes:
    """The owner's private subscription feed: each confirmed call as an event.

    No METHOD (a published calendar, not an iTIP message). DTSTAMP is the
    booking's creation time so the feed is byte-for-byte stable between polls.
    With ``include_cancelled`` (`callslot bookings --format ics --all`) a cancelled
    call is listed too, as STATUS:CANCELLED with a SEQUENCE above its booking's.
    """
    theme = theme or theme_for(settings)
    language = settings.owner.language
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    from generator.page.viewdata import site_title

    cal.add("x-wr-calname", site_title(settings, theme, language))
    for booking in bookings:
        cancelled = booking.status == "cancelled"
        if booking.status != "confirmed" and not (cancelled and include_cancelled):
            continue
        event = _event(
            settings,
            booking,
            summary=_summary(settings, booking, "owner", language, theme),
            description=call_description(settings, booking, language, theme=theme),
            stamp=booking.created_at,
        )
        event.add("sequence", max(booking.sequence, 1) if cancelled else booking.sequence)
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()
