"""site.languages: one page per language, linked to each other, and a booking answered
and mailed in the language of the page it came from."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from handler_support import AnswerPage
from notify_support import smtp_server
from page_support import parse_page
from werkzeug.test import Client

from generator.config.settings import load_settings
from generator.page.build import build_site
from generator.store import open_store
from generator.web.wsgi import create_app

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
SECRET = b"test-secret-0123456789abcdef"
BASE = "https://anna-beispiel.example.org"
LANGS = ("de", "en", "pl")


def _with_languages(site: Path, extra: str = "") -> Path:
    path = site / "content" / "site.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("[site]\n", '[site]\nlanguages = ["de", "en", "pl"]\n', 1)
    path.write_text(text + extra, encoding="utf-8")
    return path


@pytest.fixture
def built(example_site: Path, tmp_path: Path) -> Path:
    settings = load_settings(_with_languages(example_site), env={})
    out = tmp_path / "public"
    build_site(settings, NOW, out, secret=SECRET)
    return out


def test_each_language_has_its_pages_at_the_root_or_in_its_folder(built: Path) -> None:
    for folder, lang in (("", "de"), ("en/", "en"), ("pl/", "pl")):
        for name in ("index.html", "beratung.html", "thanks.html", "error.html"):
            page = parse_page(built / f"{folder}{name}")
            assert page.one("html").attrs["lang"] == lang, f"{folder}{name}"
        page = parse_page(built / f"{folder}index.html")
        hidden = {e.attrs["name"]: e.attrs["value"] for e in page.find("input", type="hidden")}
        assert hidden["lang"] == lang
        assert hidden["back"] == f"/{folder}"
        assert page.meta("og:url") == f"{BASE}/{folder}"
        # The call-type links stay in the page's language.
        nav = [e.attrs["href"] for e in page.find("a") if "nav" in e.ancestors]
        assert f"/{folder}beratung.html" in nav
    assert not (built / "de").exists()  # the first language is the root, not a folder too
    assert (built / "slots.json").is_file() and not (built / "en" / "slots.json").exists()


def test_the_pages_link_each_other_with_hreflang_and_a_switcher(built: Path) -> None:
    files = {p.relative_to(built).as_posix() for p in built.rglob("*.html")}
    for folder, lang in (("", "de"), ("en/", "en"), ("pl/", "pl")):
        page = parse_page(built / f"{folder}beratung.html")
        alternates = {
            e.attrs["hreflang"]: e.attrs["href"] for e in page.find("link", rel="alternate")
        }
        assert alternates == {
            "de": f"{BASE}/beratung.html",
            "en": f"{BASE}/en/beratung.html",
            "pl": f"{BASE}/pl/beratung.html",
            "x-default": f"{BASE}/beratung.html",
        }
        for href in alternates.values():
            assert urlsplit(href).path.lstrip("/") in files
        switcher = [e for e in page.find("a") if e.attrs.get("hreflang")]
        assert [(e.attrs["lang"], e.attrs["href"]) for e in switcher] == [
            (code, alternates[code]) for code in LANGS
        ]
        [current] = [e for e in switcher if "aria-current" in e.attrs]
        assert current.attrs["lang"] == lang
    names = "".join(parse_page(built / "index.html").text)
    assert "Deutsch" in names and "English" in names and "Polski" in names


def test_every_page_stays_within_the_first_view_budget(built: Path) -> None:
    for page in built.rglob("*.html"):
        assert len(gzip.compress(page.read_bytes(), 9)) <= 14 * 1024, page


def test_an_intro_per_language_when_the_owner_writes_one(example_site: Path, tmp_path) -> None:
    (example_site / "content" / "intro.pl.md").write_text("Dzień dobry!\n", encoding="utf-8")
    settings = load_settings(_with_languages(example_site), env={})
    build_site(settings, NOW, tmp_path / "out", secret=SECRET)
    assert "Dzień dobry!" in (tmp_path / "out" / "pl" / "index.html").read_text("utf-8")
    assert "Dzień dobry!" not in (tmp_path / "out" / "en" / "index.html").read_text("utf-8")


def test_a_booking_is_answered_and_mailed_in_the_language_of_its_page(
    example_site: Path, tmp_path: Path
) -> None:
    with smtp_server() as (sink, port):
        _out, app, store, fields = _polish_booking(
            example_site, tmp_path, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"}
        )
        client = Client(app)
        booked = client.post("/api/book", data=fields)
        assert booked.status_code == 303
        assert "back=/pl/" in booked.headers["Location"]
        # The mails go out on a thread after the answer: let them, before the cancel.
        assert app.ctx.after_commit.wait()
        answer = client.get(booked.headers["Location"])
        assert answer.headers["Content-Language"] == "pl"
        assert 'href="/pl/"' in answer.get_data(as_text=True)  # back to the Polish page
        token = booked.headers["Location"].split("token=")[1].split("&")[0]
        client.post("/api/cancel", data={"token": token})
        assert app.ctx.after_commit.wait()  # the mails go out on the background thread
        store.close()
    caller = [m.message for m in sink.to("jan@example.com")]
    owner = [m.message for m in sink.to("anna@example.org")]
    assert [m["Content-Language"] for m in caller] == ["pl", "pl"]
    assert [m["Content-Language"] for m in owner] == ["de", "de"]  # the owner's own language
    assert caller[0]["Subject"].startswith("Rozmowa telefoniczna (Dr. Anna Beispiel)")
    # Booking again starts on the Polish page.
    assert f"{BASE}/pl/" in caller[1].get_body(("plain",)).get_content()


def test_one_language_has_no_switcher(example_site: Path, tmp_path: Path) -> None:
    settings = load_settings(example_site / "content" / "site.toml", env={})
    build_site(settings, NOW, tmp_path / "out", secret=SECRET)
    page = parse_page(tmp_path / "out" / "index.html")
    assert not page.find("link", rel="alternate")
    assert not [e for e in page.find("a") if e.attrs.get("hreflang")]


def _polish_booking(example_site: Path, tmp_path: Path, env: dict[str, str] | None = None):
    """A site in de, en and pl built at NOW, its handler, and a booking form of /pl/."""
    settings = load_settings(_with_languages(example_site), env=env or {})
    out = tmp_path / "public"
    build_site(settings, NOW, out, secret=SECRET)
    page = parse_page(out / "pl" / "index.html")
    fields = {e.attrs["name"]: e.attrs["value"] for e in page.find("input", type="hidden")}
    fields.update(
        slot=page.slot_radios[0].attrs["value"],
        name="Jan Nowak",
        phone="+48 22 1234567",
        email="jan@example.com",
        topic="Umowa",
        who_calls="owner",
        website="",
    )
    store = open_store(f"sqlite:///{tmp_path}/bookings.sqlite3")
    app = create_app(
        settings,
        store=store,
        secret=SECRET,
        clock=lambda: NOW,
        env={"CALLSLOT_RATE_LIMIT": "off"},
    )
    return out, app, store, fields


def _back(response) -> str:
    page = AnswerPage.parse(response.get_data(as_text=True))
    assert page.lang == "pl", page.heading
    [href] = [h for text, h in page.links if text == "Powrót do wolnych terminów"]
    return href


def test_answers_without_a_back_lead_to_the_page_of_their_language(
    example_site: Path, tmp_path: Path
) -> None:
    _out, app, store, fields = _polish_booking(example_site, tmp_path)
    client = Client(app)
    booked = client.post("/api/book", data=fields)
    token = booked.headers["Location"].split("token=")[1].split("&")[0]
    # The booking page as the mails link it: no back=.
    assert _back(client.get(f"/api/booking?token={token}")) == "/pl/"
    # "Keep the call" on the cancel page leads to the booking page, again without back=.
    confirm = client.get(f"/api/cancel?token={token}")
    links = AnswerPage.parse(confirm.get_data(as_text=True)).links
    [keep] = [href for text, href in links if text == "Zachowaj rozmowę"]
    assert _back(client.get(keep)) == "/pl/"
    cancelled = client.post("/api/cancel", data={"token": token})
    assert _back(client.get(cancelled.headers["Location"])) == "/pl/"
    assert _back(client.get("/api/cancel?token=bogus&lang=pl")) == "/pl/"
    store.close()


def test_a_too_large_body_is_refused_in_the_language_of_the_page_it_came_from(
    example_site: Path, tmp_path: Path
) -> None:
    _out, app, store, fields = _polish_booking(example_site, tmp_path)
    client = Client(app)
    body = {**fields, "note": "x" * (70 * 1024)}
    for headers in (
        {"Referer": "http://localhost/pl/", "Accept-Language": "pl"},
        {"Referer": "http://localhost/pl/beratung.html"},
        {"Accept-Language": "fr-FR, pl;q=0.9, de;q=0.8"},
    ):
        answer = client.post("/api/book", data=body, headers=headers)
        assert answer.status_code == 413
        assert answer.headers["Content-Language"] == "pl", headers
        assert _back(answer) == "/pl/"
    # The root page is the first language's, whatever the browser prefers.
    answer = client.post(
        "/api/book", data=body,
        headers={"Referer": "http://localhost/", "Accept-Language": "pl"},
    )
    assert answer.headers["Content-Language"] == "de"
    store.close()


def test_a_missing_page_in_a_language_folder_is_answered_in_its_language(
    example_site: Path, tmp_path: Path
) -> None:
    from generator.commands.serve import static_app

    out, app, store, _fields = _polish_booking(example_site, tmp_path)
    # What `callslot serve` runs: the built files, unknown paths to the handler.
    client = Client(static_app(out, not_found=app))
    answer = client.get("/pl/nope.html", headers={"Accept-Language": "pl"})
    assert answer.status_code == 404
    assert _back(answer) == "/pl/"
    answer = client.get("/en/nope.html", headers={"Accept-Language": "pl"})
    assert answer.headers["Content-Language"] == "en"
    assert 'href="/en/"' in answer.get_data(as_text=True)
    store.close()
