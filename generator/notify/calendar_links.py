"""Add to calendar, for the caller: a per-booking .ics file and Google / Outlook links.

The .ics is reached by the booking's secret token (the one of its booking
page), never by its id; it carries the same UID as the mailed invitation,
so a caller who uses both gets one event. The web links open the caller's
own calendar with the call filled in, in the caller's zone (``ctz``); they
hold the call's title and who calls whom, never the token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from generator.config.settings import Settings
from generator.domain import Booking
from generator.i18n import N_
from generator.notify.wording import theme_for

if TYPE_CHECKING:
    from generator.page.theme import Theme

__all__ = ["calendar_file", "calendar_links", "google_url", "outlook_url"]

# (kind, label message id): the .ics works in Apple Calendar, Outlook and Thunderbird.
_KINDS = (
    ("ics", N_("Calendar file (.ics)")),
    ("google", N_("Google Calendar")),
    ("outlook", N_("Outlook.com")),
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _texts(settings: Settings, booking: Booking, theme: Theme, lang: str) -> tuple[str, str]:
    from generator.notify.invite import who_calls_line

    title = theme.gettext(
        "Call with %(owner)s: %(topic)s", lang, owner=settings.owner.name, topic=booking.topic
    )
    return title, who_calls_line(settings, booking, lang, theme=theme)


def google_url(settings: Settings, booking: Booking, theme: Theme, lang: str) -> str:
    title, details = _texts(settings, booking, theme, lang)
    query = {
        "action": "TEMPLATE",
        "text": title,
        "dates": f"{_stamp(booking.start)}/{_stamp(booking.end)}",
        "details": details,
    }
    if booking.caller_timezone:
        query["ctz"] = booking.caller_timezone
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def outlook_url(settings: Settings, booking: Booking, theme: Theme, lang: str) -> str:
    title, details = _texts(settings, booking, theme, lang)
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": title,
        "startdt": _iso(booking.start),
        "enddt": _iso(booking.end),
        "body": details,
    }
    return "https://outlook.live.com/calendar/0/action/compose?" + urlencode(query)


def calendar_links(
    settings: Settings,
    booking: Booking,
    ics_url: str,
    *,
    language: str | None = None,
    theme: Theme | None = None,
) -> tuple[tuple[str, str], ...]:
    """The three ways into the caller's calendar as (label, href), in ``language``
    (default: the booking's)."""
    lang = language or booking.language
    theme = theme or theme_for(settings)
    hrefs = {
        "ics": ics_url,
        "google": google_url(settings, booking, theme, lang),
        "outlook": outlook_url(settings, booking, theme, lang),
    }
    return tuple((theme.gettext(label, lang), hrefs[kind]) for kind, label in _KINDS)


def calendar_file(settings: Settings, booking: Booking, theme: Theme | None = None) -> bytes:
    """The caller's event as a calendar file to import (METHOD:PUBLISH, with a reminder).

    DTSTAMP is the booking's creation time: the file is the same at every download.
    """
    from icalendar import Alarm, Calendar, Event

    from generator.notify.invite import PRODID, REMINDER, booking_uid, call_description

    lang = booking.language
    theme = theme or theme_for(settings)
    title, _ = _texts(settings, booking, theme, lang)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", booking_uid(settings, booking))
    event.add("dtstamp", booking.created_at.astimezone(UTC))
    event.add("dtstart", booking.start.astimezone(UTC))
    event.add("dtend", booking.end.astimezone(UTC))
    event.add("summary", title)
    event.add("description", call_description(settings, booking, lang, theme=theme))
    event.add("sequence", booking.sequence)
    event.add("status", "CONFIRMED" if booking.status == "confirmed" else "CANCELLED")
    if booking.status == "confirmed":
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -REMINDER)
        alarm.add("description", title)
        event.add_component(alarm)
    cal.add_component(event)
    return cal.to_ical()
