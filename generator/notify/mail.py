"""Booking emails: build the owner's and the caller's message, send them over SMTP.

Each message is multipart (plain text, HTML and the iCalendar invitation as
an inline ``text/calendar; method=...`` alternative, which Gmail and Outlook
turn into an event card, plus the same file as an ``invite.ics`` attachment
for everything else). Every value that comes from the booking form is
flattened to one line before it reaches a header, and addresses are checked
before use, so a CR/LF in a name or topic can never add a header.
"""

from __future__ import annotations

import functools
import html
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_date
from email.utils import make_msgid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime, get_timezone_name

from generator.config.settings import EmailSettings, Settings
from generator.domain import Booking
from generator.notify.invite import call_description, clean_address, invitation

__all__ = ["booking_message", "clean_address", "one_line", "send_message", "smtp_connection"]

SMTP_TIMEOUT = 20.0  # seconds; a hanging server must not hold the worker for long

_TEXT = {
    "de": {
        "owner_subject_booked": "Telefontermin {short} – {topic}",
        "owner_subject_cancelled": "Abgesagt: Telefontermin {short} – {topic}",
        "caller_subject_booked": "Ihr Telefontermin mit {owner}: {short}",
        "caller_subject_cancelled": "Abgesagt: Ihr Telefontermin mit {owner} am {short}",
        "owner_intro_booked": "Neuer Telefontermin über Ihre Buchungsseite:",
        "owner_intro_cancelled": "Dieser Telefontermin wurde abgesagt:",
        "greeting": "Guten Tag {name},",
        "caller_intro_booked": "Ihr Telefontermin mit {owner} ist gebucht:",
        "caller_intro_cancelled": "Ihr Telefontermin mit {owner} ist abgesagt:",
        "when": "Wann",
        "your_time": "bei Ihnen",
        "call_type": "Art",
        "name": "Name",
        "next": "So geht es weiter",
        "owner_calls_you": "{owner} ruft Sie zur vereinbarten Zeit unter {phone} an.",
        "you_call_owner": "Bitte rufen Sie {owner} zur vereinbarten Zeit unter {phone} an.",
        "invite_hint": "Die Kalendereinladung liegt bei.",
        "cancel_hint": "Falls Sie nicht können, sagen Sie hier ab:",
        "reply_to_cancel": "Falls Sie nicht können, antworten Sie bitte auf diese E-Mail.",
        "cancelled_hint": "Sie können jederzeit einen neuen Termin buchen.",
        "date_long": "EEEE, d. MMMM y, HH:mm",
    },
    "en": {
        "owner_subject_booked": "Call booked: {short} – {topic}",
        "owner_subject_cancelled": "Call cancelled: {short} – {topic}",
        "caller_subject_booked": "Your call with {owner}: {short}",
        "caller_subject_cancelled": "Cancelled: your call with {owner} on {short}",
        "owner_intro_booked": "A call was booked on your booking page:",
        "owner_intro_cancelled": "This call was cancelled:",
        "greeting": "Hello {name},",
        "caller_intro_booked": "Your call with {owner} is booked:",
        "caller_intro_cancelled": "Your call with {owner} is cancelled:",
        "when": "When",
        "your_time": "your time",
        "call_type": "Type",
        "name": "Name",
        "next": "What happens next",
        "owner_calls_you": "{owner} will call you at {phone} at that time.",
        "you_call_owner": "Please call {owner} at {phone} at that time.",
        "invite_hint": "The calendar invitation is attached.",
        "cancel_hint": "If you cannot make it, cancel here:",
        "reply_to_cancel": "If you cannot make it, please reply to this email.",
        "cancelled_hint": "You are welcome to book a new time.",
        "date_long": "EEEE, d MMMM y, HH:mm",
    },
}


def _t(language: str) -> dict[str, str]:
    return _TEXT.get(language, _TEXT["en"])


def one_line(value: str, limit: int = 120) -> str:
    """Collapse all whitespace (CR, LF, tabs, Unicode line separators) to single spaces."""
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def short_when(moment: datetime, tz: ZoneInfo, language: str) -> str:
    """ "Mo 30.11. 09:00" / "Mon 30 Nov 09:00" in ``tz``."""
    weekday = format_datetime(moment, "EEE", tzinfo=tz, locale=language).rstrip(".")
    rest = "dd.MM. HH:mm" if language == "de" else "d MMM HH:mm"
    return f"{weekday} {format_datetime(moment, rest, tzinfo=tz, locale=language)}"


def long_when(booking: Booking, tz: ZoneInfo, language: str) -> str:
    """ "Montag, 30. November 2026, 09:00–09:30 (Mitteleuropäische Zeit)"."""
    start = format_datetime(booking.start, _t(language)["date_long"], tzinfo=tz, locale=language)
    end = format_datetime(booking.end, "HH:mm", tzinfo=tz, locale=language)
    zone = get_timezone_name(tz, locale=language)
    return f"{start}–{end} ({zone})"


def _caller_zone(booking: Booking, owner_tz: ZoneInfo) -> ZoneInfo | None:
    """The caller's zone when it is known, valid and differs from the owner's on that day."""
    if not booking.caller_timezone:
        return None
    try:
        zone = ZoneInfo(booking.caller_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    if booking.start.astimezone(zone).utcoffset() == booking.start.astimezone(owner_tz).utcoffset():
        return None
    return zone


def _set_text(message: EmailMessage, name: str, value: str) -> None:
    """Set a header whose text may hold any character, so that it arrives exactly as written.

    The email package's own folding of long non-ASCII headers (seen with Python 3.11) can
    move a space out of its encoded words, where readers drop it: "Vertrag XY –
    Kündigung" arrived as "VertragXY". Header() keeps every space inside the encoded
    words and folds them itself; set_raw keeps that folding as it is.
    """
    if value.isascii():
        message[name] = value
    else:
        message.set_raw(name, Header(value, "utf-8", header_name=name).encode())


def _set_address(message: EmailMessage, name: str, display_name: str, address: str) -> None:
    """An address header whose display name arrives exactly as written (see _set_text)."""
    if display_name.isascii():
        message[name] = Address(display_name=display_name, addr_spec=address)
    else:
        phrase = Header(display_name, "utf-8", header_name=name).encode()
        # clean_address() made ``address`` a plain addr-spec; it goes on its own line.
        message.set_raw(name, f"{phrase}\n <{address}>")


@dataclass(frozen=True)
class _Body:
    text: str
    html: str


def _render(paragraphs: list[list[str]], link: str | None) -> _Body:
    """Plain text and matching HTML from paragraphs of lines; values are escaped for HTML."""
    text = "\n\n".join("\n".join(p) for p in paragraphs)
    parts = ["<p>" + "<br>\n".join(html.escape(line) for line in p) + "</p>" for p in paragraphs]
    if link:
        text += f"\n{link}"
        safe = html.escape(link, quote=True)
        parts[-1] = parts[-1][: -len("</p>")] + f'<br>\n<a href="{safe}">{safe}</a></p>'
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    return _Body(text + "\n", page)


def _owner_body(settings: Settings, booking: Booking, event: str) -> _Body:
    language = settings.owner.language
    t = _t(language)
    call_type = settings.call_type(booking.call_type)
    when = [f"{t['when']}: {long_when(booking, settings.tz, language)}"]
    if call_type:
        when.append(f"{t['call_type']}: {call_type.title}")
    details = [
        f"{t['name']}: {booking.name}",
        *call_description(settings, booking, language).splitlines(),
    ]
    return _render([[t[f"owner_intro_{event}"]], when, details], None)


def _caller_body(settings: Settings, booking: Booking, event: str, cancel_url: str | None) -> _Body:
    language = booking.language
    t = _t(language)
    owner = settings.owner.name
    when = [f"{t['when']}: {long_when(booking, settings.tz, language)}"]
    zone = _caller_zone(booking, settings.tz)
    if zone is not None:
        when.append(f"({t['your_time']}: {long_when(booking, zone, language)})")
    greeting = [t["greeting"].format(name=booking.name)]
    intro = [t[f"caller_intro_{event}"].format(owner=owner)]
    if event == "cancelled":
        return _render([greeting, intro + when, [t["cancelled_hint"]]], None)
    if booking.who_calls == "caller":
        step = t["you_call_owner"].format(owner=owner, phone=settings.owner.phone or "—")
    else:
        step = t["owner_calls_you"].format(owner=owner, phone=booking.phone or "—")
    topic = call_description(settings, booking, language).splitlines()[0]
    paragraphs = [greeting, [*intro, *when, topic], [f"{t['next']}: {step}", t["invite_hint"]]]
    paragraphs.append([t["cancel_hint"] if cancel_url else t["reply_to_cancel"]])
    return _render(paragraphs, cancel_url)


def booking_message(
    settings: Settings,
    booking: Booking,
    *,
    audience: str,
    event: str,
    now: datetime,
    cancel_url: str | None = None,
) -> EmailMessage | None:
    """The email for ``audience`` ("owner" or "caller") about ``event`` ("booked"/"cancelled").

    None when there is nobody to write to (no or invalid address).
    """
    email = settings.notify.email
    if email is None:
        raise ValueError("email is not configured")
    owner_address = clean_address(settings.owner.email)
    caller_address = clean_address(booking.email)
    if audience == "owner":
        to, language = owner_address, settings.owner.language
        reply_to = caller_address
    else:
        to, language = caller_address, booking.language
        reply_to = owner_address
    if to is None:
        return None
    if cancel_url and not cancel_url.startswith(("https://", "http://")):
        # Without site.base_url the link is relative, and no mail program can open it.
        cancel_url = None
    t = _t(language)
    short = short_when(booking.start, settings.tz, language)
    subject = t[f"{audience}_subject_{event}"].format(
        short=short, topic=one_line(booking.topic, 80), owner=one_line(settings.owner.name, 80)
    )
    if audience == "owner":
        body = _owner_body(settings, booking, event)
    else:
        body = _caller_body(settings, booking, event, cancel_url)
    method = "REQUEST" if event == "booked" else "CANCEL"
    ics = invitation(
        settings,
        booking,
        method=method,
        audience=audience,
        now=now,
        cancel_url=cancel_url if audience == "caller" else None,
    )

    message = EmailMessage()
    sender = clean_address(email.sender)
    if sender is None:
        raise ValueError("the sender address is not a plain email address")
    _set_address(message, "From", one_line(settings.owner.name, 80), sender)
    name = booking.name if audience == "caller" else settings.owner.name
    _set_address(message, "To", one_line(name, 80), to)
    if reply_to:
        message["Reply-To"] = reply_to
    _set_text(message, "Subject", one_line(subject, 200))
    message["Date"] = rfc2822_date(now)
    message["Message-ID"] = make_msgid("callslot", domain=sender.rsplit("@", 1)[1])
    message["Content-Language"] = language
    message.set_content(body.text)
    message.add_alternative(body.html, subtype="html")
    message.add_alternative(ics.decode("utf-8"), subtype="calendar", params={"method": method})
    message.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return message


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The default verifying context, made once: loading the CA store takes ~60 ms."""
    return ssl.create_default_context()


@contextmanager
def smtp_connection(
    email: EmailSettings, *, timeout: float, ssl_context: ssl.SSLContext | None = None
) -> Iterator[smtplib.SMTP]:
    """A session with the SMTP server, greeted and under TLS as ``email.security`` says.

    Plain, STARTTLS or implicit TLS ("ssl"); QUIT when the block ends. Logging in is
    left to the caller. The default TLS context checks the certificate.
    """
    context = ssl_context or (_tls_context() if email.security != "none" else None)
    client: smtplib.SMTP
    if email.security == "ssl":
        client = smtplib.SMTP_SSL(email.host, email.port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(email.host, email.port, timeout=timeout)
    with client:
        client.ehlo_or_helo_if_needed()
        if email.security == "starttls":
            client.starttls(context=context)
            client.ehlo_or_helo_if_needed()  # STARTTLS forgets the first greeting
        yield client


def send_message(
    email: EmailSettings,
    message: EmailMessage,
    *,
    timeout: float = SMTP_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Deliver one message to the SMTP server: plain, STARTTLS or implicit TLS ("ssl").

    Raises OSError or smtplib.SMTPException when the server cannot take it;
    the outbox retries. The default TLS context checks the certificate
    (SSL_CERT_FILE names extra CAs, e.g. for a private relay).
    """
    with smtp_connection(email, timeout=timeout, ssl_context=ssl_context) as client:
        if email.username:
            client.login(email.username, email.password.get() if email.password else "")
        client.send_message(message)
