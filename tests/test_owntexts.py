"""The owner's own texts per language (issue 12): site.title, site.description and each
call type's title and description take a table of language code -> text; each page,
booked page and caller mail shows its language's text, the owner's mail the owner's.
A language of site.languages left without its texts or intro is pointed out by
`callslot check` and `callslot build`; a bad table stops with file, field and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from notify_support import smtp_server
from page_support import parse_page
from werkzeug.test import Client

from generator.cli import main
from generator.config.settings import load_settings
from generator.config.translations import untranslated
from generator.errors import ConfigError
from generator.page.build import build_site
from generator.store import open_store
from generator.web.wsgi import create_app

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # Friday morning in Berlin
SECRET = b"test-secret-0123456789abcdef"

HEAD = """\
[owner]
name = "Anna Beispiel"
timezone = "Europe/Berlin"
language = "de"
email = "anna@example.org"

[availability]
monday = ["09:00-12:00"]
tuesday = ["09:00-12:00"]
wednesday = ["09:00-12:00"]
thursday = ["09:00-12:00"]
friday = ["09:00-12:00"]

[booking]
offers_per_day = 2
require_email = true

"""

TRANSLATED = HEAD + """\
[site]
languages = ["de", "en", "pl"]
title = { de = "Anna: Rückruf", en = "Anna: call back", pl = "Anna: oddzwonienie" }
description = { de = "Steuern am Telefon", en = "Tax by phone", pl = "Podatki przez telefon" }

[[call_types]]
slug = "rueckruf"
title = { de = "Rückruf (30 Minuten)", en = "Call back (30 min)", pl = "Oddzwonienie (30 minut)" }
description = { de = "Kurz und bündig.", en = "Short and to the point.", pl = "Krótko i na temat." }
duration = "30m"

[[call_types]]
slug = "beratung"
duration = "60m"
step = "30m"

[call_types.title]
de = "Beratungsgespräch (60 Minuten)"
en = "Consultation (60 minutes)"
pl = "Konsultacja (60 minut)"
"""

TITLES = {
    "de": ("Anna: Rückruf", "Rückruf (30 Minuten)", "Beratungsgespräch (60 Minuten)",
           "Steuern am Telefon", "Kurz und bündig."),
    "en": ("Anna: call back", "Call back (30 min)", "Consultation (60 minutes)",
           "Tax by phone", "Short and to the point."),
    "pl": ("Anna: oddzwonienie", "Oddzwonienie (30 minut)", "Konsultacja (60 minut)",
           "Podatki przez telefon", "Krótko i na temat."),
}
FOLDERS = {"de": "", "en": "en/", "pl": "pl/"}


def _site(tmp_path: Path, toml: str, intros: tuple[str, ...] = ("intro.md",)) -> Path:
    content = tmp_path / "content"
    content.mkdir(exist_ok=True)
    for name in intros:
        (content / name).write_text(f"Hallo aus {name}\n", encoding="utf-8")
    path = content / "site.toml"
    path.write_text(toml, encoding="utf-8")
    return path


# -- the texts in each language ---------------------------------------------------------


def test_each_page_shows_its_languages_titles(tmp_path: Path) -> None:
    path = _site(tmp_path, TRANSLATED, ("intro.md", "intro.en.md", "intro.pl.md"))
    settings = load_settings(path, env={})
    assert untranslated(settings) == []
    result = build_site(settings, NOW, tmp_path / "public", secret=SECRET)
    assert result.warnings == []
    for language, (site, first, second, description, lead) in TITLES.items():
        folder = tmp_path / "public" / FOLDERS[language]
        index = parse_page(folder / "index.html")
        assert index.title == site
        assert index.meta("og:title") == site
        assert index.meta("description") == description
        assert index.one("h1").tag == "h1" and first in index.text
        assert lead in index.text
        nav = [e.attrs["href"] for e in index.find("a")
               if "nav" in e.ancestors and "hreflang" not in e.attrs]
        assert nav == [f"/{FOLDERS[language]}", f"/{FOLDERS[language]}beratung.html"]
        assert first in index.text and second in index.text  # the tabs
        other = parse_page(folder / "beratung.html")
        assert other.title == f"{second} – {site}"
        assert second in other.text
        html = (folder / "index.html").read_text(encoding="utf-8")
        assert f'data-call="{first}"' in html  # the picked-time summary's call title
        for foreign, texts in TITLES.items():
            if foreign != language:
                assert not any(text in html for text in texts), (language, foreign)
        # The thanks page's <title> names the site in its language too.
        assert site in parse_page(folder / "thanks.html").title


def test_a_booking_on_the_polish_page_is_answered_and_mailed_with_the_polish_title(
    tmp_path: Path,
) -> None:
    path = _site(tmp_path, TRANSLATED)
    out = tmp_path / "public"
    with smtp_server() as (sink, port):
        settings = load_settings(path, env={"SMTP_URL": f"smtp://127.0.0.1:{port}"})
        build_site(settings, NOW, out, secret=SECRET)
        page = parse_page(out / "pl" / "beratung.html")
        fields = {e.attrs["name"]: e.attrs["value"] for e in page.find("input", type="hidden")}
        fields.update(
            slot=page.slot_radios[0].attrs["value"],
            name="Jan Nowak",
            phone="+48 22 1234567",
            email="jan@example.com",
            topic="Umowa",
            note="",
            who_calls="owner",
            website="",
        )
        store = open_store(f"sqlite:///{tmp_path}/bookings.sqlite3")
        app = create_app(
            settings, store=store, secret=SECRET, clock=lambda: NOW,
            env={"CALLSLOT_RATE_LIMIT": "off"},
        )
        client = Client(app)
        booked = client.post("/api/book", data=fields)
        assert booked.status_code == 303
        assert app.ctx.after_commit.wait()
        answer = client.get(booked.headers["Location"]).get_data(as_text=True)
        store.close()
    assert "Konsultacja (60 minut)" in answer
    assert "Beratungsgespräch" not in answer
    assert "<title>" in answer and "Anna: oddzwonienie" in answer
    [caller] = [m.message for m in sink.to("jan@example.com")]
    [owner] = [m.message for m in sink.to("anna@example.org")]
    for part in ("plain", "html"):
        text = caller.get_body((part,)).get_content()
        assert "Konsultacja (60 minut)" in text and "Beratungsgespräch" not in text, part
        # The owner reads their own language.
        text = owner.get_body((part,)).get_content()
        assert "Beratungsgespräch (60 Minuten)" in text and "Konsultacja" not in text, part


def test_a_table_serves_a_one_language_site_too(tmp_path: Path) -> None:
    toml = TRANSLATED.replace('languages = ["de", "en", "pl"]\n', "")
    settings = load_settings(_site(tmp_path, toml), env={})
    assert settings.call_types[0].title == "Rückruf (30 Minuten)"
    assert settings.call_types[1].title_in("en") == "Consultation (60 minutes)"
    assert settings.site.description == "Steuern am Telefon"
    # The other languages' texts are kept, but the owner learns they are never shown.
    warnings = untranslated(settings)
    assert warnings and all("text is never shown: the site is built in de" in w
                            for w in warnings), warnings
    build_site(settings, NOW, tmp_path / "public", secret=SECRET)
    page = parse_page(tmp_path / "public" / "index.html")
    assert page.title == "Anna: Rückruf" and "Rückruf (30 Minuten)" in page.text
    assert not (tmp_path / "public" / "en").exists()


PLAIN = HEAD + """\
[site]
title = "Anna: Rückruf"
description = "Steuern am Telefon"

[[call_types]]
slug = "rueckruf"
title = "Rückruf (30 Minuten)"
description = "Kurz und bündig."
duration = "30m"
"""


def test_plain_texts_still_serve_every_language(tmp_path: Path) -> None:
    settings = load_settings(_site(tmp_path, PLAIN), env={})
    call = settings.call_types[0]
    assert (call.title, call.titles, call.description) == (
        "Rückruf (30 Minuten)", (), "Kurz und bündig.")
    assert call.title_in("pl") == "Rückruf (30 Minuten)"
    assert settings.site.title_in("en") == "Anna: Rückruf"
    assert untranslated(settings) == []  # one language: nothing to translate
    build_site(settings, NOW, tmp_path / "public", secret=SECRET)
    page = parse_page(tmp_path / "public" / "index.html")
    assert page.title == "Anna: Rückruf"
    assert page.meta("description") == "Steuern am Telefon"
    assert "Rückruf (30 Minuten)" in page.text and "Kurz und bündig." in page.text

    # Several languages with plain texts: every page shows them, and the owner hears of it.
    multi = PLAIN.replace("[site]\n", '[site]\nlanguages = ["de", "en"]\n')
    settings = load_settings(_site(tmp_path, multi), env={})
    result = build_site(settings, NOW, tmp_path / "multi", secret=SECRET)
    assert parse_page(tmp_path / "multi" / "en" / "index.html").title == "Anna: Rückruf"
    assert result.warnings == [
        'site.languages: the "en" page shows site.title, site.description, '
        "call_types[0].title, call_types[0].description and the intro in German; give them "
        'per language (title = { de = "...", en = "..." }) and write content/intro.en.md'
    ]


# -- the warning --------------------------------------------------------------------------


PARTLY = HEAD + """\
[site]
languages = ["pl", "de", "en"]

[[call_types]]
slug = "rueckruf"
title = { de = "Rückruf", en = "Call back" }
duration = "30m"

[[call_types]]
slug = "beratung"
title = { de = "Beratung", en = "Consultation", pl = "Konsultacja" }
description = "Ausführlich."
duration = "60m"
"""


def test_the_warning_names_exactly_what_a_language_lacks(tmp_path: Path) -> None:
    # No site.title or description (the theme names the page in each language); the
    # Polish intro is written, the English one is not.
    settings = load_settings(_site(tmp_path, PARTLY, ("intro.md", "intro.pl.md")), env={})
    assert untranslated(settings) == [
        'site.languages: the "pl" page shows call_types[0].title and call_types[1].description '
        'in German; give them per language (title = { de = "...", pl = "..." })',
        'site.languages: the "en" page shows call_types[1].description and the intro in '
        'German; give it per language (description = { de = "...", en = "..." }) and write '
        "content/intro.en.md",
    ]
    # Without an intro.md there is no intro to translate.
    (tmp_path / "content" / "intro.md").unlink()
    (tmp_path / "content" / "intro.pl.md").unlink()
    toml = PARTLY.replace('[site]\n', '[site]\nintro = "missing.md"\n')
    settings = load_settings(_site(tmp_path, toml, ()), env={})
    assert [w.split(";")[0] for w in untranslated(settings)] == [
        'site.languages: the "pl" page shows call_types[0].title and call_types[1].description '
        "in German",
        'site.languages: the "en" page shows call_types[1].description in German',
    ]


def test_check_and_build_print_the_warning(tmp_path: Path) -> None:
    path = _site(tmp_path, PARTLY.replace('email = "anna@example.org"\n', ""))
    runner = CliRunner()
    env = {"CALLSLOT_SECRET": SECRET.decode(), "DATABASE_URL": None, "SMTP_URL": None}
    checked = runner.invoke(main, ["check", "--config", str(path), "--timeout", "3"], env=env)
    notes = [line for line in checked.output.splitlines() if "site.languages" in line]
    assert [line.split(":")[0] for line in notes] == ["note  settings"] * 2, checked.output
    assert 'the "pl" page shows call_types[0].title' in notes[0]
    assert 'the "en" page shows call_types[1].description' in notes[1]
    for attempt in ("built", "unchanged"):
        built = runner.invoke(
            main, ["build", "--config", str(path), "--now", "2026-11-27T08:00:00+01:00"], env=env
        )
        assert built.exit_code == 0, built.output
        warnings = [line for line in built.stderr.splitlines() if "site.languages" in line]
        assert len(warnings) == 2 and warnings[0].startswith('Warning: site.languages: the "pl"')
        assert built.stderr.rstrip().splitlines()[-1] == warnings[-1], attempt  # at the end


# -- bad tables ---------------------------------------------------------------------------


BAD = HEAD + """\
[site]
languages = ["de", "en"]

[[call_types]]
slug = "rueckruf"
title = "Rückruf"
duration = "30m"

[[call_types]]
slug = "beratung"
title = {value}
duration = "60m"
"""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{ de = "Beratung", english = "Consultation" }',
         "'english' is not a language callslot speaks (did you mean 'en'?); the table's keys "
         'are language codes: "de", "en", '),
        ('{ de = "Beratung", EN = "Consultation" }', "(did you mean 'en'?)"),
        ('{ de = "Beratung", xx = "Consultation" }', "'xx' is not a language callslot speaks"),
        ('{ en = "Consultation" }',
         'has texts for "en" but none for "de" (owner.language), which the other languages '
         'fall back to; add de = "..."'),
        ('{ de = "Beratung", en = 60 }',
         'the "en" text must be text in quotes, e.g. en = "...", not 60; or leave "en" out '
         'to show that page the "de" text'),
        ('{ de = "Beratung", en = " " }', 'the "en" text must be text in quotes, e.g. en = "...", '
         "not empty text"),
        ('{ de = ["Beratung"], en = "B" }', 'the "de" text must be text in quotes, e.g. '
         'de = "...", not a list'),
        ('{ de = "Beratung", en = { x = "y" } }', 'the "en" text must be text in quotes, e.g. '
         'en = "...", not a table'),
        ("{}", 'is an empty table; write the text, or one per language: title = { de = "..."'),
    ],
)
def test_a_bad_table_names_file_field_line_and_fix(
    tmp_path: Path, value: str, message: str
) -> None:
    path = _site(tmp_path, BAD.format(value=value))
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == "call_types[1].title"
    assert info.value.file == str(path)
    assert info.value.line == path.read_text("utf-8").splitlines().index(f"title = {value}") + 1
    assert message in info.value.reason


def test_a_bad_site_table_points_at_its_own_line(tmp_path: Path) -> None:
    toml = PLAIN.replace('description = "Steuern am Telefon"\n',
                         '\n[site.description]\nde = "Steuerfragen"\nfr = 1\n')
    path = _site(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert info.value.field == "site.description"
    assert info.value.line == path.read_text("utf-8").splitlines().index("fr = 1") + 1
    assert "site.toml, line" in info.value.format_message()


def test_a_text_for_a_language_the_site_is_not_built_in_is_pointed_out(tmp_path: Path) -> None:
    # "fr" where "en" was meant: the English page would show German, the French text nothing.
    toml = TRANSLATED.replace('languages = ["de", "en", "pl"]', 'languages = ["de", "en"]')
    toml = toml.replace('title = { de = "Anna: Rückruf", en = "Anna: call back", '
                        'pl = "Anna: oddzwonienie" }',
                        'title = { de = "Anna: Rückruf", fr = "Anna : rappel" }')
    warnings = untranslated(load_settings(_site(tmp_path, toml), env={}))
    assert ('site.title: the "fr" text is never shown: the site is built in de and en '
            '(site.languages); add "fr" there or remove the text') in warnings
    assert any('the "en" page shows site.title' in w for w in warnings), warnings


def test_no_description_writes_no_empty_meta_tag(tmp_path: Path) -> None:
    toml = PLAIN.replace('description = "Steuern am Telefon"', 'description = ""').replace(
        'description = "Kurz und bündig."\n', "")
    settings = load_settings(_site(tmp_path, toml), env={})
    build_site(settings, NOW, tmp_path / "public", secret=SECRET)
    html = (tmp_path / "public" / "index.html").read_text(encoding="utf-8")
    assert 'name="description"' not in html and 'og:description' not in html
