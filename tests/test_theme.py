"""Themes: overriding single templates, the message page contract, catalogs, locale dates."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from page_support import parse_page

from generator.config.settings import load_settings
from generator.errors import BuildError
from generator.i18n import day_label, translations
from generator.page.theme import BUNDLED_THEMES, content_security_policy, load_theme

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "themes" / "default"
MESSAGE = {
    "title": "Termin gebucht",
    "heading": "Vielen Dank",
    "lead": "Ich rufe Sie an.",
    "details": [("Termin", "Montag, 30. November, 09:00"), ("Stichwort", "Vertrag")],
    "links": [("Termin absagen", "/api/cancel?token=abc"), ("Zur Startseite", "/")],
    "form": {
        "action": "/api/cancel",
        "method": "post",
        "hidden": [("token", "abc"), ("confirm", "1")],
        "button": "Absagen",
    },
    "status": "ok",
}


def settings_for(site: Path):
    return load_settings(site / "content" / "site.toml")


def use_theme(site: Path, theme: str) -> None:
    path = site / "content" / "site.toml"
    text = re.sub(r'\ntheme = ".*"', "", path.read_text())
    path.write_text(text.replace('intro = "intro.md"', f'intro = "intro.md"\ntheme = "{theme}"'))


def test_message_page_shows_everything_the_handler_passes(example_site: Path) -> None:
    html = load_theme(settings_for(example_site)).render("message.html", **MESSAGE)
    page = parse_page(html)
    assert page.title == "Termin gebucht – Dr. Anna Beispiel: Rückruf vereinbaren"
    assert page.one("html", lang="de")
    text = " ".join("".join(page.text).split())
    assert "Vielen Dank" in text and "Ich rufe Sie an." in text
    assert "<dt>Termin</dt><dd>Montag, 30. November, 09:00</dd>" in html
    assert "<dt>Stichwort</dt><dd>Vertrag</dd>" in html
    assert [a.attrs["href"] for a in page.find("a")] == ["/api/cancel?token=abc", "/"]
    form = page.one("form")
    assert form.attrs == {"action": "/api/cancel", "method": "post"}
    assert [(e.attrs["name"], e.attrs["value"]) for e in page.find("input", type="hidden")] == [
        ("token", "abc"),
        ("confirm", "1"),
    ]
    assert page.one("button", type="submit")
    assert not page.find("section", role="alert")
    assert page.styles  # styled inline like the booking page


def test_error_message_is_an_alert_and_escapes_what_it_shows(example_site: Path) -> None:
    theme = load_theme(settings_for(example_site))
    html = theme.render(
        "message.html",
        title="Fehler",
        heading="Nicht gebucht",
        lead='<script>alert("x")</script>',
        details=[("Name", "<b>Eve</b>")],
        links=[],
        form=None,
        status="error",
        lang="en",
    )
    page = parse_page(html)
    assert page.one("section", role="alert")
    assert not page.scripts and not page.find("b")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert page.one("html", lang="en")  # the handler answers in the page's language


def test_a_site_overrides_one_template_and_inherits_the_rest(example_site: Path) -> None:
    shutil.rmtree(example_site / "themes")  # the bundled default theme is the base
    own = example_site / "themes" / "default" / "templates"
    own.mkdir(parents=True)
    (own / "message.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1 class="mine">{{ heading }}</h1>'
        "{% endblock %}",
        encoding="utf-8",
    )
    theme = load_theme(settings_for(example_site))
    assert theme.dirs == (example_site / "themes" / "default", BUNDLED_THEMES / "default")
    page = parse_page(theme.render("message.html", heading="Hallo"))
    assert page.one("h1", class_="mine")
    assert page.styles  # base.html and the stylesheet come from the bundled theme
    assert "<form" not in theme.render("page.html", page=None, script="")


def test_a_named_theme_with_its_own_catalog_falls_back_to_default(example_site: Path) -> None:
    mine = example_site / "themes" / "calm"
    (mine / "templates").mkdir(parents=True)
    (mine / "templates" / "message.html").write_text(
        "{{ _('Call me maybe') }} / {{ _('Book this call') }}", encoding="utf-8"
    )
    (mine / "locale" / "de" / "LC_MESSAGES").mkdir(parents=True)
    (mine / "locale" / "de" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Call me maybe"\nmsgstr "Ruf mich an"\n',
        encoding="utf-8",
    )
    use_theme(example_site, "calm")
    theme = load_theme(settings_for(example_site))
    assert theme.render("message.html") == "Ruf mich an / Termin buchen"
    assert theme.render("message.html", lang="en") == "Call me maybe / Book this call"


def test_theme_may_be_a_path(example_site: Path) -> None:
    folder = example_site / "design" / "plain" / "templates"
    folder.mkdir(parents=True)
    (folder / "message.html").write_text("plain {{ heading }}", encoding="utf-8")
    use_theme(example_site, "./design/plain")
    assert load_theme(settings_for(example_site)).render("message.html", heading="x") == "plain x"
    use_theme(example_site, "./design/missing")
    with pytest.raises(BuildError, match=r"theme folder .*design/missing does not exist"):
        load_theme(settings_for(example_site))


def test_broken_catalog_names_the_file(example_site: Path) -> None:
    po = example_site / "themes" / "default" / "locale" / "de" / "LC_MESSAGES" / "messages.po"
    po.write_text('msgid "unterminated\n', encoding="utf-8")
    theme = load_theme(settings_for(example_site))
    with pytest.raises(BuildError, match=r"messages\.po: not a valid gettext catalog"):
        theme.render("message.html", heading="x")


def test_runtime_catalogs_and_locale_dates() -> None:
    german = translations("de", [DEFAULT])
    assert (
        german.gettext("What is it about? A keyword is enough.")
        == "Worum geht es? Ein Stichwort genügt."
    )
    assert translations("sv", [DEFAULT]).gettext("Your name") == "Your name"  # no catalog
    assert day_label(date(2026, 11, 30), "de") == "Montag, 30. November"
    assert day_label(date(2026, 11, 30), "en") == "Monday, 30 November"
    assert not list(DEFAULT.rglob("*.mo"))  # compiled in memory, never written


def test_csp_allows_a_handler_on_another_host() -> None:
    page = "<style>a{}</style><script>go()</script><script src=x.js></script>"
    csp = content_security_policy(
        [page], endpoints=("https://h.example.com/api/book", "/api/taken")
    )
    assert "form-action 'self' https://h.example.com" in csp
    assert "connect-src 'self' https://h.example.com" in csp
    assert csp.count("'sha256-") == 2  # one style, one inline script; src= scripts not hashed
