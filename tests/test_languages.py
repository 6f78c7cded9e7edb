"""A site in each language builds, books and mails in that language, with no word of
another one left: pages, handler answers, mails (text, HTML, invitation), webhook text
and the offer reply are checked against the words of the German and English catalogs."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.messages.pofile import read_po
from icalendar import Calendar
from notify_support import smtp_server
from testenv import ROOT
from werkzeug.test import Client

from generator.commands.offer import offer_text
from generator.config.settings import load_settings
from generator.i18n import LANGUAGES
from generator.notify.webhook import summary_text
from generator.page.build import build_site
from generator.store import open_store
from generator.web.wsgi import create_app

NOW = dt.datetime(2026, 11, 27, 7, 0, tzinfo=dt.UTC)  # Friday morning in Berlin
SECRET = b"test-secret-0123456789abcdef"
LOCALE = ROOT / "themes" / "default" / "locale"

# The owner's own texts are neutral here: only callslot's words are under test.
SITE = """
[owner]
name = "Anna Kowalska"
timezone = "Europe/Berlin"
language = "{language}"
email = "anna@example.org"
phone = "+49 30 1234567"

[site]
base_url = "https://anna.example.org"

[availability]
monday = ["09:00-12:00", "14:00-17:00"]
tuesday = ["09:00-12:00"]
wednesday = ["09:00-12:00"]
thursday = ["09:00-12:00"]
friday = ["09:00-12:00"]

[booking]
who_calls = "either"
offers_per_day = 3
require_email = true

[[call_types]]
slug = "kurz"
title = "Anna Kowalska 30"
duration = "30m"

[[call_types]]
slug = "lang"
title = "Anna Kowalska 60"
duration = "60m"
step = "30m"
"""


def _words(text: str) -> set[str]:
    text = re.sub(r"%\(\w+\)\w|\{\w+\}", " ", text)
    return {w.lower() for w in re.findall(r"[^\W\d_]{4,}", text)}


# Words a language writes exactly as the English source does (checked by hand): a
# message left untranslated must not make its English words look like that language.
_SAME_AS_ENGLISH = {"de": {"name", "status"}, "nl": {"status"}, "pl": {"status"}}


def _catalog_words(language: str) -> set[str]:
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    words: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings if language != "en" else ids:
            found = _words(text)
            if language != "en" and text in ids:
                found &= _SAME_AS_ENGLISH.get(language, set())
            words |= found
    return words


def forbidden_words(language: str) -> set[str]:
    """Words of the German and English catalogs that ``language`` itself never uses."""
    return (_catalog_words("de") | _catalog_words("en")) - _catalog_words(language)


class _Text(HTMLParser):
    """Every word a reader sees on a page: text, labels, titles, the script's words."""

    SHOWN = frozenset(
        {"aria-label", "title", "alt", "content", "placeholder", "data-taken", "data-local"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in self.SHOWN and value and not value.startswith("http"):
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def shown(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.slots: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a.get("value", "")
        if tag == "input" and a.get("name") == "slot":
            self.slots.append(a["value"])


# Product names keep their name in every language ("Google Calendar", "Outlook.com").
_NAMES = re.compile(r"Google Calendar|Google|Outlook\.com|Outlook")


def _strip(text: str) -> str:
    """Leave out addresses, links and product names: they are not words of a language."""
    return _NAMES.sub(" ", re.sub(r"\S+@\S+|https?://\S+|/api/\S+", " ", text))


def _leftovers(texts: dict[str, str], language: str) -> dict[str, list[str]]:
    forbidden = forbidden_words(language)
    found = {}
    for where, text in texts.items():
        bad = sorted(_words(_strip(text)) & forbidden)
        if bad:
            found[where] = bad
    return found


def test_the_word_lists_can_tell_the_languages_apart() -> None:
    # The check below would pass on anything if these sets were empty.
    assert {"booked", "cancel", "call"} <= forbidden_words("fr")
    assert {"gebucht", "absagen"} <= forbidden_words("pl")
    assert "gebucht" in forbidden_words("en") and "booked" in forbidden_words("de")
    assert _leftovers({"x": "Votre appel est booked"}, "fr") == {"x": ["booked"]}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_site_builds_books_and_mails_in_its_language_only(tmp_path: Path, language: str) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "site.toml").write_text(SITE.format(language=language), encoding="utf-8")
    (content / "intro.md").write_text("Anna Kowalska\n", encoding="utf-8")
    texts: dict[str, str] = {}

    with smtp_server() as (sink, port):
        settings = load_settings(
            content / "site.toml", env={"SMTP_URL": f"smtp://127.0.0.1:{port}"}
        )
        out = tmp_path / "public"
        build_site(settings, NOW, out, secret=SECRET)
        for name in ("index.html", "lang.html", "thanks.html", "error.html"):
            html = (out / name).read_text(encoding="utf-8")
            assert f'<html lang="{language}">' in html, name
            texts[name] = shown(html)

        form = _Form()
        form.feed((out / "index.html").read_text(encoding="utf-8"))
        assert form.slots and form.hidden["lang"] == language
        store = open_store(f"sqlite:///{tmp_path}/bookings.sqlite3")
        client = Client(
            create_app(
                settings,
                store=store,
                secret=SECRET,
                clock=lambda: NOW,
                env={"CALLSLOT_RATE_LIMIT": "off"},
            )
        )
        fields = {
            **form.hidden,
            "slot": form.slots[0],
            "name": "Jan Nowak",
            "phone": "+48 22 1234567",
            "email": "jan@example.com",
            "topic": "ABC-123",
            "note": "XYZ-987",
            "who_calls": "owner",
            "website": "",
        }
        refused = client.post("/api/book", data={**fields, "topic": "", "phone": "x"})
        assert refused.status_code == 400
        texts["refusal"] = shown(refused.get_data(as_text=True))
        forged = client.post("/api/book", json={**fields, "slot": "kurz.x.y.z"})
        texts["refusal (JSON)"] = forged.get_json()["message"]
        booked = client.post("/api/book", data=fields)
        assert booked.status_code == 303
        # The mails go out on a thread after the answer: let them, before the cancel.
        assert client.application.ctx.after_commit.wait()
        page = client.get(booked.headers["Location"])
        assert page.headers["Content-Language"] == language
        texts["booked page"] = shown(page.get_data(as_text=True))
        token = parse_qs(urlsplit(booked.headers["Location"]).query)["token"][0]
        confirm = client.get(f"/api/cancel?token={token}")
        texts["cancel page"] = shown(confirm.get_data(as_text=True))
        cancelled = client.post("/api/cancel", data={"token": token, "lang": language})
        texts["cancelled page"] = shown(client.get(cancelled.headers["Location"]).get_data(True))
        assert client.application.ctx.after_commit.wait()
        [booking] = store.bookings(since=NOW, include_cancelled=True)
        store.close()

    assert len(sink.messages) == 4  # owner and caller, booked and cancelled
    for number, received in enumerate(sink.messages):
        message = received.message
        assert message["Content-Language"] == language
        where = f"mail {number} ({message['Subject']})"
        texts[where + " subject"] = message["Subject"]
        texts[where + " text"] = message.get_body(("plain",)).get_content()
        texts[where + " html"] = shown(message.get_body(("html",)).get_content())
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        for component in Calendar.from_ical(part.get_payload(decode=True)).walk():
            for key in ("SUMMARY", "DESCRIPTION"):
                if key in component:
                    texts[f"{where} invitation {key}"] = str(component[key])
    for event in ("booked", "cancelled"):
        texts[f"webhook {event}"] = summary_text(settings, booking, event)
    texts["offer"] = _offer(settings)

    assert _leftovers(texts, language) == {}
    if language == "fr":
        # French sets a (no-break) space before a colon: "Sujet : ", "(.ics) : https://...".
        glued = {where: re.findall(r"\S*[^\s\d]: ", text) for where, text in texts.items()}
        assert not {where: found for where, found in glued.items() if found}, glued


def _offer(settings) -> str:
    from generator.page.build import offered_slots

    slots = [s for s in offered_slots(settings, NOW) if s.call_type == "kurz"][:3]
    return offer_text(settings, slots, NOW)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_zone_name_reads_well_inside_a_sentence(language: str) -> None:
    # The hint writes "Tutti gli orari: ora dell’Europa centrale", the mails
    # "9:00–9:30 (ora dell’Europa centrale)": a title-cased CLDR name would stand out.
    from generator.i18n import zone_label

    for zone in ("Europe/Berlin", "Asia/Tokyo", "America/New_York"):
        name = zone_label(zone, language)
        assert name != zone, (language, zone)
        if language in ("fr", "es", "it", "pl"):
            assert name[:1].islower(), (language, name)
