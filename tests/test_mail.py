"""Booking emails through a real SMTP server (aiosmtpd): subjects, texts, invitations, safety."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest
from icalendar import Calendar
from notify_support import (
    SECRET,
    START,
    accept_any_login,
    book,
    make_booking,
    self_signed,
    server_context,
    site_settings,
    smtp_server,
)

from generator.config.settings import EmailSettings, Secret
from generator.notify.mail import booking_message, send_message
from generator.notify.outbox import cancel_url, channels_for, send_now
from generator.signing import cancel_token
from generator.store.sqlite import SQLiteStore

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
OWNER = "anna@example.org"
CALLER = "max@example.com"


def _parts(message: EmailMessage) -> dict[str, list]:
    found: dict[str, list] = {}
    for part in message.walk():
        found.setdefault(part.get_content_type(), []).append(part)
    return found


def _invite(message: EmailMessage, content_type: str = "text/calendar"):
    part = _parts(message)[content_type][0]
    cal = Calendar.from_ical(part.get_payload(decode=True))
    return part, cal, cal.walk("VEVENT")[0]


@pytest.fixture
def store(tmp_path: Path):
    store = SQLiteStore(tmp_path / "bookings.sqlite3")
    store.migrate()
    yield store
    store.close()


def test_booking_mails_owner_and_caller_with_invitations(example_site: Path, store) -> None:
    booking = make_booking(language="en", caller_timezone="America/New_York")
    with smtp_server() as (sink, port):
        settings = site_settings(example_site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        book(store, booking, channels_for(settings, "booked"))
        report = send_now(settings, store, booking.id, now=NOW, secret=SECRET)
    assert [d.outcome for d in report.deliveries] == ["sent", "sent"]
    assert [row.status for row in store.outbox()] == ["sent", "sent"]
    [to_owner] = sink.to(OWNER)
    [to_caller] = sink.to(CALLER)
    assert len(sink.messages) == 2

    owner = to_owner.message
    # The owner's language (de) and zone (Berlin): day, time and the topic keyword.
    assert owner["Subject"] == "Telefontermin Mo 30.11. 9:00 – Vertrag XY"
    assert owner["Reply-To"] == CALLER
    assert owner["From"].addresses[0].addr_spec == OWNER
    text = owner.get_body(("plain",)).get_content()
    for expected in [
        "Montag, 30. November 2026, 9:00–9:30",
        "Thema: Vertrag XY",
        "Name: Max Muster",
        "Telefon: 0170 5550101",  # the owner's national format
        "E-Mail: max@example.com",
        "Notiz: Bitte nachmittags",
        "Dr. Anna Beispiel ruft Max Muster an: 0170 5550101",
    ]:
        assert expected in text
    assert "Vertrag XY" in owner.get_body(("html",)).get_content()
    part, cal, event = _invite(owner)
    assert part.get_param("method") == "REQUEST"
    assert cal["METHOD"] == "REQUEST"
    assert event.decoded("DTSTART") == booking.start
    assert event.decoded("DTEND") == booking.end
    # The same file again as an attachment, for mail clients without calendar cards.
    attachment = _parts(owner)["application/ics"][0]
    assert attachment.get_filename() == "invite.ics"

    caller = to_caller.message
    # The caller's own zone, in the subject too: New York is UTC-5 on that day.
    assert caller["Subject"] == "Your call with Dr. Anna Beispiel: Mon 30 Nov 3:00"
    text = caller.get_body(("plain",)).get_content()
    assert "Hello Max Muster," in text
    assert "Monday, 30 November 2026, 3:00–3:30 (Eastern Time)" in text
    assert "Berlin" not in text and "Central European" not in text
    assert "Dr. Anna Beispiel will call you at 0170 5550101 at that time." in text
    token = cancel_token(SECRET, booking.id)
    link = f"https://anna-beispiel.example.org/api/cancel?token={token}"
    assert link in text
    assert f'href="{link}"' in caller.get_body(("html",)).get_content()
    _, cal, event = _invite(caller)
    assert cal["METHOD"] == "REQUEST"
    assert event.decoded("DTSTART") == START
    assert str(event["ATTENDEE"]) == f"mailto:{CALLER}"


def test_cancel_sends_method_cancel_to_both_sides(example_site: Path, store) -> None:
    booking = make_booking()
    with smtp_server() as (sink, port):
        settings = site_settings(example_site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        book(store, booking, channels_for(settings, "booked"))
        send_now(settings, store, booking.id, now=NOW, secret=SECRET)
        later = NOW + dt.timedelta(hours=1)
        store.cancel(booking.id, now=later, channels=channels_for(settings, "cancelled"))
        send_now(settings, store, booking.id, now=later, secret=SECRET)
    assert len(sink.messages) == 4
    for address in (OWNER, CALLER):
        request, cancel = (m.message for m in sink.to(address))
        _, _, req = _invite(request)
        part, cal, event = _invite(cancel)
        assert part.get_param("method") == "CANCEL"
        assert cal["METHOD"] == "CANCEL"
        assert event["UID"] == req["UID"]
        assert event["SEQUENCE"] > req["SEQUENCE"]
        assert event.decoded("DTSTART") == START
    owner_cancel = sink.to(OWNER)[1].message
    assert owner_cancel["Subject"] == "Abgesagt: Telefontermin Mo 30.11. 9:00 – Vertrag XY"
    caller_cancel = sink.to(CALLER)[1].message
    assert caller_cancel["Subject"].startswith("Abgesagt: Ihr Telefontermin mit Dr. Anna Beispiel")


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "Eve\r\nBcc: victim@example.net"),
        ("topic", "Vertrag\r\nBcc: victim@example.net\r\nX-Injected: yes"),
        ("topic", "Vertrag\nX-Injected: yes"),
        ("name", "Eve\u2028X-Injected: yes"),
        ("email", "max@example.com\r\nBcc: victim@example.net"),
        ("note", "hi\r\n\r\nBcc: victim@example.net"),
    ],
)
def test_cr_lf_in_a_field_cannot_add_a_header(
    example_site: Path, store, field: str, value: str
) -> None:
    booking = make_booking(**{field: value})
    with smtp_server() as (sink, port):
        settings = site_settings(example_site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        book(store, booking, channels_for(settings, "booked"))
        report = send_now(settings, store, booking.id, now=NOW, secret=SECRET)
    assert report.failed == 0
    for received in sink.messages:
        assert "victim@example.net" not in received.rcpt_tos
        message = received.message
        assert message["Bcc"] is None
        assert message["X-Injected"] is None
        assert set(message.keys()) <= {
            "From",
            "To",
            "Reply-To",
            "Subject",
            "Date",
            "Message-ID",
            "Content-Language",
            "Auto-Submitted",
            "MIME-Version",
            "Content-Type",
        }
    # A malformed caller address is not written to at all; the owner still hears of it.
    expected = 1 if field == "email" else 2
    assert len(sink.messages) == expected
    assert len(sink.to(OWNER)) == 1


def test_starttls_with_login(example_site: Path, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    message = booking_message(settings, make_booking(), audience="owner", event="booked", now=NOW)
    client_context = ssl.create_default_context(cafile=str(cert))
    with smtp_server(
        tls_context=server_context(cert, key),
        require_starttls=True,
        authenticator=accept_any_login,
    ) as (sink, port):
        config = EmailSettings(
            host="127.0.0.1",
            port=port,
            security="starttls",
            username="anna",
            password=Secret("s3cret", env="SMTP_PASSWORD"),
            sender=OWNER,
        )
        send_message(config, message, ssl_context=client_context)
        # Without STARTTLS the server refuses, and the error says so (no password in it).
        plain = dataclasses.replace(config, security="none")
        with pytest.raises(Exception) as info:
            send_message(plain, message)
        assert "s3cret" not in str(info.value)
    assert len(sink.messages) == 1
    assert sink.messages[0].message["Subject"] == "Telefontermin Mo 30.11. 9:00 – Vertrag XY"


def test_implicit_tls(example_site: Path, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = site_settings(example_site, env={"SMTP_URL": "smtps://127.0.0.1:465"})
    assert settings.notify.email and settings.notify.email.security == "ssl"
    message = booking_message(settings, make_booking(), audience="owner", event="booked", now=NOW)
    with smtp_server(ssl_context=server_context(cert, key)) as (sink, port):
        config = dataclasses.replace(settings.notify.email, port=port)
        send_message(config, message, ssl_context=ssl.create_default_context(cafile=str(cert)))
        # An untrusted certificate is refused rather than used.
        with pytest.raises(ssl.SSLError):
            send_message(config, message)
    assert len(sink.messages) == 1


def test_caller_without_email_is_skipped_but_owner_is_mailed(example_site: Path, store) -> None:
    booking = make_booking(email="")
    with smtp_server() as (sink, port):
        settings = site_settings(example_site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        book(store, booking, channels_for(settings, "booked"))
        report = send_now(settings, store, booking.id, now=NOW, secret=SECRET)
    assert [(d.channel, d.outcome) for d in report.deliveries] == [
        ("email:owner", "sent"),
        ("email:caller", "skipped"),
    ]
    assert [row.status for row in store.outbox()] == ["sent", "sent"]
    assert [m.rcpt_tos for m in sink.messages] == [[OWNER]]
    assert "E-Mail" not in sink.messages[0].message.get_body(("plain",)).get_content()


def test_caller_calls_owner_and_relative_cancel_link(example_site: Path) -> None:
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    settings = dataclasses.replace(settings, site=dataclasses.replace(settings.site, base_url=""))
    booking = make_booking(who_calls="caller")
    link = cancel_url(settings, SECRET, booking.id)
    assert link == f"/api/cancel?token={cancel_token(SECRET, booking.id)}"
    message = booking_message(
        settings, booking, audience="caller", event="booked", now=NOW, cancel_url=link
    )
    assert message is not None
    text = message.get_body(("plain",)).get_content()
    assert (
        "Bitte rufen Sie Dr. Anna Beispiel zur vereinbarten Zeit unter +49 30 1234567 an." in text
    )
    # Same zone as the owner: no second time line.
    assert "bei Ihnen" not in text
    # A relative link cannot be opened from a mail: the caller is asked to reply instead.
    assert "/api/cancel" not in message.as_string()
    assert "Falls Sie nicht können, antworten Sie bitte auf diese E-Mail." in text
    assert message["Reply-To"] == "anna@example.org"


def test_non_ascii_names_and_topics_arrive_intact(example_site: Path, store) -> None:
    booking = make_booking(name="Jürgen Öztürk", topic="Prüfung – Kündigung 📄")
    with smtp_server() as (sink, port):
        settings = site_settings(example_site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        book(store, booking, channels_for(settings, "booked"))
        send_now(settings, store, booking.id, now=NOW, secret=SECRET)
    owner = sink.to(OWNER)[0].message
    assert owner["Subject"] == "Telefontermin Mo 30.11. 9:00 – Prüfung – Kündigung 📄"
    assert "Name: Jürgen Öztürk" in owner.get_body(("plain",)).get_content()
    _, _, event = _invite(owner)
    assert str(event["SUMMARY"]) == "Telefonat: Prüfung – Kündigung 📄 – Jürgen Öztürk"
    assert sink.to(CALLER)[0].message["To"].addresses[0].display_name == "Jürgen Öztürk"


def test_a_non_ascii_caller_address_is_not_written_to_or_replied_to(example_site: Path) -> None:
    # Bookings made before the form refused such addresses: the owner is still told,
    # without a Reply-To that Python would have garbled into encoded words.
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    booking = make_booking(email="jürgen@example.com")
    owner = booking_message(settings, booking, audience="owner", event="booked", now=NOW)
    assert owner is not None and owner["Reply-To"] is None
    assert booking_message(settings, booking, audience="caller", event="booked", now=NOW) is None
    # An owner or caller at an IDN domain is written to at its xn-- form.
    owner_idn = dataclasses.replace(settings.owner, email="anna@müller.de")
    settings = dataclasses.replace(settings, owner=owner_idn)
    booking = make_booking(email="max@müller.de")
    caller = booking_message(settings, booking, audience="caller", event="booked", now=NOW)
    assert caller is not None and caller["To"].addresses[0].addr_spec == "max@xn--mller-kva.de"
    assert caller["Reply-To"] == "anna@xn--mller-kva.de"


def test_the_cancel_subject_keeps_every_space_of_the_topic(example_site: Path, store) -> None:
    # Python's own header folding once sent this subject as "... – VertragXY – Kündigung".
    booking = make_booking(topic="Vertrag XY – Kündigung", name="Jürgen Öztürk")
    with smtp_server() as (sink, port):
        settings = site_settings(example_site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        book(store, booking, channels_for(settings, "booked"))
        store.cancel(booking.id, now=NOW, channels=channels_for(settings, "cancelled"))
        send_now(settings, store, booking.id, now=NOW, secret=SECRET)
    subjects = {m.message["Subject"] for m in sink.to(OWNER)}
    assert "Abgesagt: Telefontermin Mo 30.11. 9:00 – Vertrag XY – Kündigung" in subjects


_WORDS = ["Vertrag", "XY", "–", "Kündigung", "Müller", "GmbH", "11:00", "📄", "a", "Dr.", "(Firma)"]


@pytest.mark.parametrize("seed", range(40))
def test_long_non_ascii_subjects_and_names_arrive_exactly(example_site: Path, seed: int) -> None:
    import random
    from email import message_from_bytes, policy
    from email.header import decode_header, make_header

    def shown(value: str) -> str:
        # As mail programs show it (RFC 2047: space between encoded words is not text).
        return str(make_header(decode_header(value)))

    rng = random.Random(seed)
    topic = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 20)))[:80].strip()
    name = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12)))[:80].strip()
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    booking = make_booking(topic=topic, name=name)
    for audience, event in [("owner", "booked"), ("owner", "cancelled"), ("caller", "booked")]:
        message = booking_message(settings, booking, audience=audience, event=event, now=NOW)
        assert message is not None
        raw = message.as_bytes(policy=policy.SMTP)
        assert max(len(line) for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")) <= 78
        received = message_from_bytes(raw, policy=policy.compat32)
        if audience == "owner":
            assert shown(received["Subject"]).endswith(f"9:00 – {topic}")
        else:
            assert shown(received["To"]) in (f"{name} <{CALLER}>", f'"{name}" <{CALLER}>')
