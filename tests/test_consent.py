"""[privacy] require_consent: a required, labelled checkbox on the page (no JavaScript needed);
the handler refuses a form without it in the page's language and stores the sentence the
caller agreed to, in their language, with the time of consent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from handler_support import NOW, SECRET, AnswerPage
from page_support import parse_page
from werkzeug.test import Client

from generator.config.privacy import PrivacySettings
from generator.config.settings import Settings, load_settings
from generator.page.build import build_site, offered_slots
from generator.signing import slot_token
from generator.store import Store, open_store
from generator.web.wsgi import create_app

ROOT = Path(__file__).resolve().parent.parent
CONSENT = {
    "de": "Ich bin einverstanden, dass meine Angaben (Name, Telefonnummer, E-Mail, Thema, Notiz) "
          "gespeichert werden, um dieses Telefonat zu vereinbaren und vorzubereiten.",
    "en": "I agree that my details (name, phone number, email, topic, note) are stored to "
          "arrange and prepare this call.",
}
REFUSED = {
    "de": "Bitte setzen Sie das Häkchen: Ohne Ihre Einwilligung kann das Telefonat nicht "
          "gebucht werden.",
    "en": "Please tick the box: without your consent the call cannot be booked.",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    shutil.copytree(ROOT / "content", tmp_path / "content")
    loaded = load_settings(tmp_path / "content" / "site.toml", env={})
    # No calendar re-read: these tests are about the form.
    # Built in German and English: a form posting lang=en is answered in English.
    return replace(loaded, calendars=(), privacy=PrivacySettings(require_consent=True),
                   site=replace(loaded.site, languages=("de", "en")))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def client(settings: Settings, store: Store) -> Client:
    app = create_app(settings, store=store, secret=SECRET, clock=lambda: NOW,
                     env={"CALLSLOT_RATE_LIMIT": "off"})
    return Client(app)


def form(settings: Settings, lang: str, n: int = 0, **changes: str) -> dict[str, str]:
    slot = offered_slots(settings, NOW)[n * 8]
    return {"slot": slot_token(SECRET, slot), "name": "Max Muster", "phone": "+49 30 5550101",
            "email": "", "topic": "Vertrag", "note": "", "who_calls": "owner",
            "tz": "Europe/Berlin", "lang": lang, "website": "", "back": "/", **changes}


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_page_has_a_required_labelled_consent_box_in_its_language(
    settings: Settings, tmp_path: Path, lang: str
) -> None:
    owner = replace(settings.owner, language=lang)
    one_language = replace(settings, owner=owner, site=replace(settings.site, languages=()))
    build_site(one_language, NOW, tmp_path / "public", secret=SECRET)
    page = parse_page(tmp_path / "public" / "index.html")
    (box,) = page.find("input", name="consent")
    assert box.attrs["type"] == "checkbox" and "required" in box.attrs
    assert box.attrs["value"] == "yes" and "form" in box.ancestors
    assert page.labels[box.attrs["id"]] == CONSENT[lang]


def test_without_require_consent_there_is_no_box(settings: Settings, tmp_path: Path) -> None:
    plain = replace(settings, privacy=PrivacySettings())
    build_site(plain, NOW, tmp_path / "public", secret=SECRET)
    assert parse_page(tmp_path / "public" / "index.html").find("input", name="consent") == []


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_form_without_consent_is_refused_in_the_pages_language_and_nothing_is_stored(
    settings: Settings, store: Store, lang: str
) -> None:
    answer = client(settings, store).post("/api/book", data=form(settings, lang))
    assert answer.status_code == 400
    page = AnswerPage.parse(answer.get_data(as_text=True))
    assert page.lang == lang
    label = {"de": "Einwilligung", "en": "Consent"}[lang]
    assert page.details[label] == REFUSED[lang]
    as_json = client(settings, store).post("/api/book", json=form(settings, lang, consent="no"))
    assert as_json.status_code == 400
    assert {"field": "consent", "code": "missing", "message": REFUSED[lang]} in (
        as_json.get_json()["fields"])
    assert store.bookings(include_cancelled=True) == [] and store.outbox() == []


@pytest.mark.parametrize("lang", ["de", "en"])
def test_consent_is_stored_with_its_sentence_and_time(
    settings: Settings, store: Store, lang: str
) -> None:
    answer = client(settings, store).post("/api/book", data=form(settings, lang, consent="yes"))
    assert answer.status_code == 303, answer.get_data(as_text=True)
    (booking,) = store.bookings()
    assert booking.consent_text == CONSENT[lang]
    assert booking.consent_at == NOW


def test_a_posted_consent_is_not_recorded_when_none_was_asked(
    settings: Settings, store: Store
) -> None:
    plain = replace(settings, privacy=PrivacySettings())
    answer = client(plain, store).post("/api/book", json=form(plain, "de", consent="yes"))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    (booking,) = store.bookings()
    assert booking.consent_text == "" and booking.consent_at is None
