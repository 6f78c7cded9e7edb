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
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_date
from email.utils import make_msgid
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from generator.config.settings import EmailSettings, Settings
from generator.domain import Booking
from generator.i18n import N_
from generator.notify.invite import clean_address, invitation, who_calls_line
from generator.notify.wording import theme_for

if TYPE_CHECKING:
    from generator.page.theme import Theme

__all__ = [
    "MailView",
    "booking_message",
    "clean_address",
    "mail_view",
    "one_line",
    "reader_zone",
    "render_mail",
    "send_message",
    "smtp_connection",
    "smtp_problem",
]

SMTP_TIMEOUT = 20.0  # seconds; a hanging server must not hold the worker for long


def one_line(value: str, limit: int = 120) -> str:
    """Collapse all whitespace (CR, LF, tabs, Unicode line separators) to single spaces."""
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def short_when(moment: datetime, tz: ZoneInfo, language: str) -> str:
    """ "Mo 30.11. 9:00" / "Mon 30 Nov 9:00" in ``tz``."""
    from generator.i18n import short_day_time

    return short_day_time(moment, tz, language)


def reader_zone(settings: Settings, booking: Booking, audience: str) -> ZoneInfo:
    """The zone a reader lives in: the caller's own when the page sent a valid one, else
    the owner's (a caller in New York reads New York time)."""
    if audience == "caller" and booking.caller_timezone:
        try:
            return ZoneInfo(booking.caller_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return settings.tz


@dataclass(frozen=True)
class MailView:
    """What a mail template shows, formatted in the reader's language and time zone.

    Templates: ``mail/<audience>_<event>.subject.txt``, ``.txt`` and ``.html``
    (e.g. ``mail/caller_booked.html``); every word around these values comes
    from the templates and the theme's catalogs.
    """

    lang: str  # the reader's language
    audience: str  # "owner" or "caller"
    event: str  # "booked", "cancelled", ...
    owner_name: str
    caller_name: str
    when: str  # "Montag, 30. November 2026, 09:00–09:30 (Mitteleuropäische Zeit)"
    when_short: str  # "Mo 30.11. 09:00", for subjects
    zone: str  # "Mitteleuropäische Zeit"
    minutes: int  # length of the call
    call_title: str  # the call type's title, "" if it is gone from the settings
    topic: str
    note: str
    phone: str  # the caller's number ("" when none)
    email: str  # the caller's address ("" when none)
    who_calls: str  # "owner" or "caller"
    who_calls_line: str  # "Dr. Anna Beispiel ruft Max Muster an: +49 170 5550101"
    next_step: str  # for the caller: who dials which number at that time
    cancel_url: str = ""  # the caller's cancel link (absolute), "" when none
    book_url: str = ""  # the booking page (absolute), "" without site.base_url
    subject: str = ""  # filled in once the subject is rendered (the HTML <title>)
    move_url: str = ""  # the caller's link to move the call (absolute), "" when none
    previous_when: str = ""  # a moved call's old time, short, in the reader's zone
    # The number to dial as a tel: URL, and who_calls_line around that number (the
    # HTML links the number itself); "" when there is no number.
    tel_url: str = ""
    tel_number: str = ""
    who_calls_before: str = ""
    who_calls_after: str = ""
    phone_uri: str = ""  # "tel:+49301234567" for the owner's mail, "" when there is no number
    # "Add to calendar" for the caller: (label, href) of the .ics, Google and Outlook.
    calendar: tuple[tuple[str, str], ...] = ()
    # The owner's Impressum and Datenschutz (absolute links), in every mail's footer.
    legal: tuple[tuple[str, str], ...] = ()


def _absolute(url: str | None) -> str:
    # Without site.base_url a link is relative, and no mail program can open it.
    return url if url and url.startswith(("https://", "http://")) else ""


def mail_view(
    settings: Settings,
    booking: Booking,
    *,
    audience: str,
    event: str,
    theme: Theme,
    cancel_url: str | None = None,
    book_url: str | None = None,
    move_url: str | None = None,
    previous: tuple[datetime, datetime] | None = None,
) -> MailView:
    """The view data of one mail about ``booking`` for ``audience``; ``previous`` is a
    moved call's old (start, end)."""
    from generator.i18n import date_label, short_time, zone_label
    from generator.page.legal import legal_href
    from generator.phone import default_region, display_number, tel_uri

    region = default_region(settings.owner)

    lang = settings.owner.language if audience == "owner" else booking.language
    tz = reader_zone(settings, booking, audience)
    start, end = booking.start.astimezone(tz), booking.end.astimezone(tz)
    zone = zone_label(tz.key, lang)
    when = theme.gettext(
        "%(date)s, %(start)s–%(end)s (%(zone)s)",
        lang,
        date=date_label(start.date(), lang),
        # As the booking's own page writes it ("9:00–9:30"): one format per language.
        start=short_time(start, tz, lang),
        end=short_time(end, tz, lang),
        zone=zone,
    )
    owner = settings.owner.name
    if booking.who_calls == "caller":
        next_step = theme.gettext(
            "Please call %(owner)s at %(phone)s at that time.",
            lang,
            owner=owner,
            phone=settings.owner.phone or "—",
        )
    else:
        next_step = theme.gettext(
            "%(owner)s will call you at %(phone)s at that time.",
            lang,
            owner=owner,
            phone=display_number(booking.phone, region) or "—",
        )
    call_type = settings.call_type(booking.call_type)
    number = settings.owner.phone if booking.who_calls == "caller" else booking.phone
    dial = "".join(c for c in number or "" if c.isdigit() or c == "+")
    # who_calls_line with a mark where the number goes, to link the number itself.
    mark = "\x00"
    around = who_calls_line(settings, replace(booking, phone=mark), lang, theme=theme)
    if booking.who_calls == "caller":
        around = who_calls_line(settings, booking, lang, theme=theme).replace(
            settings.owner.phone or "\x01", mark, 1
        )
    before, _sep, after = around.partition(mark)
    legal = tuple(
        (theme.gettext(label, lang), href)
        for kind, label in (("imprint", N_("Imprint")), ("privacy", N_("Privacy notice")))
        if (href := legal_href(settings, kind, absolute=True))
    )
    return MailView(
        lang=lang,
        audience=audience,
        event=event,
        owner_name=owner,
        caller_name=booking.name,
        when=when,
        when_short=short_when(booking.start, tz, lang),
        zone=zone,
        minutes=int((booking.end - booking.start).total_seconds() // 60),
        call_title=call_type.title_in(lang) if call_type else "",
        topic=booking.topic,
        note=booking.note,
        phone=display_number(booking.phone, region),
        phone_uri=tel_uri(booking.phone) if booking.phone.startswith("+") else "",
        email=booking.email,
        who_calls=booking.who_calls,
        who_calls_line=who_calls_line(settings, booking, lang, theme=theme),
        next_step=next_step,
        cancel_url=_absolute(cancel_url),
        book_url=_absolute(book_url),
        move_url=_absolute(move_url),
        previous_when=short_when(previous[0], tz, lang) if previous else "",
        tel_url=f"tel:{dial}" if dial and _sep else "",
        # The caller's number as the owner dials it at home: "0170 5550101".
        tel_number=(display_number(number, region) if number else "") if dial and _sep else "",
        who_calls_before=before,
        who_calls_after=after,
        legal=legal,
    )


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def render_mail(theme: Theme, view: MailView) -> RenderedMail:
    """Subject, plain text and HTML of one mail from ``mail/<audience>_<event>.*``."""
    name = f"mail/{view.audience}_{view.event}"
    subject = one_line(theme.render(f"{name}.subject.txt", lang=view.lang, mail=view), 200)
    view = replace(view, subject=subject)
    text = theme.render(f"{name}.txt", lang=view.lang, mail=view)
    # Blank lines left by template tags at the ends; one newline closes the text.
    text = text.strip("\n") + "\n"
    html = theme.render(f"{name}.html", lang=view.lang, mail=view)
    return RenderedMail(subject, text, html)


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


def booking_page_url(settings: Settings, booking: Booking) -> str:
    """The booking page of the booking's call type in the booking's language, where a
    caller books again."""
    from generator.page.viewdata import page_path

    call_type = booking.call_type if settings.call_type(booking.call_type) else None
    slug = call_type or settings.call_types[0].slug
    return f"{settings.site.base_url}{page_path(settings, slug, booking.language)}"


def booking_message(
    settings: Settings,
    booking: Booking,
    *,
    audience: str,
    event: str,
    now: datetime,
    cancel_url: str | None = None,
    theme: Theme | None = None,
    move_url: str | None = None,
    previous: tuple[datetime, datetime] | None = None,
    message_id: str | None = None,
) -> EmailMessage | None:
    """The email for ``audience`` ("owner" or "caller") about ``event`` ("booked", "moved",
    "cancelled" or "reminder"); ``previous`` is a moved call's old (start, end).

    None when there is nobody to write to (no or invalid address). ``message_id``: the
    local part of the Message-ID (the outbox row's): a mail sent again after a crash
    carries the same one, and mail systems that know it drop the second copy.
    """
    email = settings.notify.email
    if email is None:
        raise ValueError("email is not configured")
    owner_address = clean_address(settings.owner.email)
    caller_address = clean_address(booking.email)
    if audience == "owner":
        to, reply_to = owner_address, caller_address
    else:
        to, reply_to = caller_address, owner_address
    if to is None:
        return None
    theme = theme or theme_for(settings)
    # A moved call's REQUEST has the same UID and a higher SEQUENCE: calendars move the
    # event instead of adding one. A reminder carries no invitation: nothing changed.
    method = {"booked": "REQUEST", "moved": "REQUEST", "cancelled": "CANCEL"}.get(event)
    if method == "CANCEL" or audience != "caller":
        cancel_url = move_url = None  # a cancelled call has nothing left to cancel or move
    view = mail_view(
        settings,
        booking,
        audience=audience,
        event=event,
        theme=theme,
        cancel_url=cancel_url,
        book_url=booking_page_url(settings, booking) if event == "cancelled" else None,
        move_url=move_url,
        previous=previous,
    )
    if audience == "caller" and event == "booked" and view.cancel_url:
        from generator.notify.calendar_links import calendar_links

        # The same secret token as the cancel link opens the call's calendar file.
        ics_url = view.cancel_url.replace("/api/cancel?token=", "/api/booking.ics?token=", 1)
        links = calendar_links(settings, booking, ics_url, language=view.lang, theme=theme)
        view = replace(view, calendar=links)
    mail = render_mail(theme, view)
    ics = None
    if method is not None:
        ics = invitation(
            settings,
            booking,
            method=method,
            audience=audience,
            now=now,
            cancel_url=view.cancel_url or None,
            theme=theme,
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
    _set_text(message, "Subject", mail.subject)
    message["Date"] = rfc2822_date(now)
    domain = sender.rsplit("@", 1)[1]
    message["Message-ID"] = (
        f"<{message_id}@{domain}>" if message_id else make_msgid("callslot", domain=domain)
    )
    # RFC 3834: a machine wrote this; vacation responders and auto-replies stay quiet.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    if ics is not None and method is not None:
        message.add_alternative(ics.decode("utf-8"), subtype="calendar", params={"method": method})
        message.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    # After set_content: it clears every Content-* header of the message, this one too.
    message["Content-Language"] = view.lang
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


def smtp_problem(email: EmailSettings, exc: BaseException) -> str:
    """What went wrong talking to the mail server, in our words, with what to check.

    For the terminal and for the outbox's last error: it names the server, never the
    password; a refusal quoting the caller's address is redacted by the outbox.
    """
    import socket

    where = f"the mail server at {email.host}:{email.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (
            f"{where} rejected the login of {email.username!r}: check the user name and "
            "password (SMTP_URL or notify.email.username/password)"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return (
            f'{where} does not offer STARTTLS: use security = "ssl" (port 465) or, only '
            'on a trusted network, "none"'
        )
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"{where} refused the connection; is it running? (check notify.email.host and "
            "port, or SMTP_URL)"
        )
    if isinstance(exc, socket.gaierror):
        return (
            f"the mail server's name {email.host!r} cannot be found (DNS): check "
            "notify.email.host (or SMTP_URL) and the network"
        )
    if isinstance(exc, TimeoutError):
        return f"{where} did not answer in time: check the host, the port and any firewall"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"{where} showed a certificate that cannot be trusted "
            f"({getattr(exc, 'verify_message', None) or getattr(exc, 'reason', None) or exc}): "
            "check the host name, or name the server's CA in SSL_CERT_FILE"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS with {where} failed ({getattr(exc, 'reason', None) or exc}): check "
            "notify.email.security "
            '("ssl" for port 465, "starttls" for 587)'
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return (
            f"{where} closed the connection unexpectedly: check notify.email.security "
            '("ssl" for port 465, "starttls" for 587) and the server\'s log'
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = "; ".join(
            f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
            for code, text in exc.recipients.values()
        )
        return f"{where} refused the recipient: {answers.strip()}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{where} refused: {exc.smtp_code} {text.strip()}"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot talk to {where}: {reason or type(exc).__name__}; check notify.email or SMTP_URL"


def send_message(
    email: EmailSettings,
    message: EmailMessage,
    *,
    timeout: float = SMTP_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    handoff: Callable[[str], None] | None = None,
) -> None:
    """Deliver one message to the SMTP server: plain, STARTTLS or implicit TLS ("ssl").

    ``handoff`` is told "data" just before the message is sent and "accepted" once the
    server took it (the outbox records both, see Store.release_claims).

    Raises OSError or smtplib.SMTPException when the server cannot take it;
    the outbox retries. The default TLS context checks the certificate
    (SSL_CERT_FILE names extra CAs, e.g. for a private relay).
    """
    with smtp_connection(email, timeout=timeout, ssl_context=ssl_context) as client:
        if email.username:
            client.login(email.username, email.password.get() if email.password else "")
        if handoff is None:
            client.send_message(message)
        else:
            _send_with_handoff(client, message, handoff)


def _send_with_handoff(
    client: smtplib.SMTP, message: EmailMessage, handoff: Callable[[str], None]
) -> None:
    """smtplib's send_message, step by step, telling ``handoff`` "data" just before DATA
    and "accepted" as soon as the server answers 250 (before QUIT): a sender that dies
    before "data" sent nothing; after "accepted", the mail is delivered."""
    import io
    from email.generator import BytesGenerator
    from email.utils import getaddresses

    buffer = io.BytesIO()  # booking mails have no Bcc to strip, and are ASCII on the wire
    BytesGenerator(buffer).flatten(message, linesep="\r\n")
    data = buffer.getvalue()
    sender = getaddresses([str(message["From"])])[0][1]
    recipients = [
        address
        for _name, address in getaddresses(
            [str(v) for f in ("To", "Cc") for v in message.get_all(f, [])]
        )
    ]
    client.ehlo_or_helo_if_needed()
    code, answer = client.mail(sender)
    if code != 250:
        client.rset()
        raise smtplib.SMTPSenderRefused(code, answer, sender)
    refused = {}
    for address in recipients:
        code, answer = client.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, answer)
    if len(refused) == len(recipients):
        client.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    handoff("data")
    code, answer = client.data(data)
    if code != 250:
        client.rset()
        raise smtplib.SMTPDataError(code, answer)
    handoff("accepted")
