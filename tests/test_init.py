"""`callslot init`: a working content/ folder for a new owner, never overwriting a file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from test_languages import _leftovers, shown

from generator.cli import main
from generator.config.settings import load_settings
from generator.i18n import BUNDLED_THEMES, LANGUAGES, translations

FLAGS = [
    "--name",
    "Jo Example",
    "--timezone",
    "America/New_York",
    "--language",
    "en",
    "--calendar-env",
    "JO_CALENDAR",
    "--hours",
    "10:00-12:00, 13:00-16:30",
    "--no-input",
]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSLOT_SECRET", "test-secret-0123456789abcdef")
    monkeypatch.delenv("DATABASE_URL", raising=False)


def test_init_from_flags_writes_settings_that_load(runner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["init", str(tmp_path), *FLAGS])
    assert result.exit_code == 0, result.output
    assert f"created {tmp_path / 'content' / 'site.toml'}" in result.output
    settings = load_settings(tmp_path / "content" / "site.toml", env={})
    assert settings.owner.name == "Jo Example" and settings.owner.language == "en"
    assert settings.owner.timezone == "America/New_York"
    assert settings.calendars[0].location.env == "JO_CALENDAR"
    assert [str(r) for r in settings.availability.weekly[0]] == ["10:00-12:00", "13:00-16:30"]
    assert settings.availability.weekly[4] == settings.availability.weekly[0]
    assert settings.availability.weekly[5] == ()  # weekends closed
    assert settings.call_types[0].duration == timedelta(minutes=30)
    intro = (tmp_path / "content" / "intro.md").read_text()
    assert "keyword" in intro


def test_the_scaffold_says_how_to_let_callers_call(runner, tmp_path: Path) -> None:
    # who_calls = "either" needs owner.phone: the file has the line to uncomment.
    assert runner.invoke(main, ["init", str(tmp_path), *FLAGS]).exit_code == 0
    path = tmp_path / "content" / "site.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("# phone = ", "phone = ")
    text = text.replace('who_calls = "owner"', 'who_calls = "either"')
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path, env={})
    assert settings.booking.who_calls == "either" and settings.owner.phone


def test_init_never_overwrites_an_existing_file(runner, tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "intro.md").write_text("My own words.\n")
    result = runner.invoke(main, ["init", str(tmp_path), *FLAGS])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and (content / "intro.md").read_text() == "My own words.\n"
    settings_text = (content / "site.toml").read_text()
    again = runner.invoke(main, ["init", str(tmp_path), "--name", "Someone Else", "--no-input",
                                 "--imprint", "impressum.md"])
    assert again.exit_code == 1, again.output
    assert "exists already" in again.output and "Nothing was written" in again.output
    assert (content / "site.toml").read_text() == settings_text
    assert not (content / "impressum.md").exists()  # a page site.toml would never name


@pytest.mark.parametrize("inside", [".", "content", "content/sub"])
def test_init_inside_a_site_names_that_site_and_writes_nothing(
    runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    assert runner.invoke(main, ["init", str(tmp_path), *FLAGS]).exit_code == 0
    here = tmp_path / inside
    here.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(here)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = runner.invoke(main, ["init", "--name", "Someone Else", "--no-input"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "Nothing was written" in result.output
    if inside == ".":  # the site's own folder
        assert f"{tmp_path / 'content' / 'site.toml'} exists already" in result.output
    else:  # a site nested in the old one would be found instead of it by later commands
        assert f"inside the site of {tmp_path / 'content' / 'site.toml'}" in result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_init_asks_questions(runner, tmp_path: Path) -> None:
    answers = "Anna Beispiel\nEurope/Berlin\nde\nnone\n09:00-12:00\n\n\n"
    result = runner.invoke(main, ["init", str(tmp_path)], input=answers)
    assert result.exit_code == 0, result.output
    assert "Your name" in result.output and "Time zone" in result.output
    assert "Legal notice (Impressum)" in result.output
    assert "Privacy notice (Datenschutzerklärung)" in result.output
    settings = load_settings(tmp_path / "content" / "site.toml", env={})
    assert settings.owner.name == "Anna Beispiel" and settings.owner.language == "de"
    assert settings.calendars == ()
    assert settings.call_types[0].title == "Rückruf (30 Minuten)"


@pytest.mark.parametrize(
    ("language", "title", "intro"),
    [
        ("fr", "Appel téléphonique (30 minutes)", "*mot-clé*"),
        ("pl", "Rozmowa telefoniczna (30 minut)", "*słowo kluczowe*"),
        ("nl", "Telefoongesprek (30 minuten)", "*trefwoord*"),
    ],
)
def test_init_writes_the_first_texts_in_the_owners_language(
    runner, tmp_path: Path, language: str, title: str, intro: str
) -> None:
    result = runner.invoke(
        main, ["init", str(tmp_path), "--name", "Anna", "--language", language, "--no-input"]
    )
    assert result.exit_code == 0, result.output
    settings = load_settings(tmp_path / "content" / "site.toml", env={})
    assert settings.owner.language == language
    assert settings.call_types[0].title == title
    assert intro in (tmp_path / "content" / "intro.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--timezone", "Mars/Olympus"], "'Mars/Olympus' is not an IANA time zone"),
        (["--hours", "9-17"], "'9-17' is not a time range"),
        (["--calendar-env", "my url"], "'my url' is not an environment variable name"),
    ],
)
def test_init_refuses_bad_answers_and_writes_nothing(
    runner, tmp_path: Path, flags: list[str], message: str
) -> None:
    result = runner.invoke(main, ["init", str(tmp_path), "--name", "Jo", "--no-input", *flags])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert not (tmp_path / "content").exists()


def test_init_without_a_name_and_no_input_is_an_error(runner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["init", str(tmp_path), "--no-input"])
    assert result.exit_code == 1 and "--name is required" in result.output


def test_a_new_site_builds_with_the_bundled_theme(runner, tmp_path: Path) -> None:
    result = runner.invoke(
        main,
        [
            "init",
            str(tmp_path),
            "--name",
            "Jo",
            "--language",
            "en",
            "--calendar-env",
            "none",
            "--no-input",
        ],
    )
    assert result.exit_code == 0, result.output
    build = runner.invoke(
        main,
        [
            "build",
            "--config",
            str(tmp_path / "content" / "site.toml"),
            "--now",
            "2026-11-30T08:00:00Z",
        ],
    )
    assert build.exit_code == 0, build.output
    html = (tmp_path / "public" / "index.html").read_text()
    assert "Pick an open time" in html and 'name="slot"' in html


def test_init_asks_again_after_a_wrong_answer(runner, tmp_path: Path) -> None:
    # An owner who types "Berlin" or "9-12" is told why and asked again, instead of
    # losing every answer to an error after the last question.
    answers = (
        "Anna Beispiel\nBerlin\nEurope/Berlin\nen\nmy url\nMY_CAL\n9-12\n09:00-12:00\n"
        "www.example.org/impressum\nhttps://example.org/impressum\n\n"
    )
    result = runner.invoke(main, ["init", str(tmp_path)], input=answers)
    assert result.exit_code == 0, result.output
    assert "'Berlin' is not an IANA time zone" in result.output
    assert "'9-12' is not a time range" in result.output
    assert "'my url' is not an environment variable name" in result.output
    assert "'www.example.org/impressum': write the https:// address" in result.output
    settings = load_settings(tmp_path / "content" / "site.toml", env={"MY_CAL": "cal.ics"})
    assert settings.owner.timezone == "Europe/Berlin" and settings.owner.language == "en"
    assert str(settings.availability.weekly[0][0]) == "09:00-12:00"


def test_init_asks_for_impressum_and_datenschutz_and_every_page_links_them(
    runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = (
        "Anna Beispiel\nEurope/Berlin\nde\nnone\n09:00-12:00\n"
        "https://anna.example.org/impressum\ndatenschutz.md\n"
    )
    result = runner.invoke(main, ["init", str(tmp_path)], input=answers)
    assert result.exit_code == 0, result.output
    settings = load_settings(tmp_path / "content" / "site.toml", env={})
    assert settings.site.imprint == "https://anna.example.org/impressum"
    assert settings.site.privacy_policy == "datenschutz.md"
    stub = (tmp_path / "content" / "datenschutz.md").read_text(encoding="utf-8")
    assert stub.startswith("# Datenschutz") and "keine Rechtsberatung" in stub
    monkeypatch.setenv("CALLSLOT_SECRET", "init-test-secret-0123456789")
    built = runner.invoke(
        main,
        ["build", "--config", str(tmp_path / "content" / "site.toml"),
         "--now", "2026-11-27T08:00:00Z", "--out", str(tmp_path / "public")],
    )
    assert built.exit_code == 0, built.output
    for name in ("index.html", "thanks.html", "privacy.html"):
        html = (tmp_path / "public" / name).read_text(encoding="utf-8")
        assert 'href="https://anna.example.org/impressum">Impressum</a>' in html, name
        assert 'href="/privacy.html">Datenschutz</a>' in html, name


def test_init_refuses_a_legal_answer_that_is_no_address(runner, tmp_path: Path) -> None:
    result = runner.invoke(
        main, ["init", str(tmp_path), "--name", "Jo", "--no-input", "--imprint", "Impressum"]
    )
    assert result.exit_code == 1 and "--imprint" in result.output
    assert not (tmp_path / "content").exists()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_new_site_has_no_word_of_another_language(
    runner, tmp_path: Path, language: str
) -> None:
    # The legal pages init writes for the owner to fill in, the intro and the call type
    # are in the site's language: a French site publishes no "Impressum" nor "Please fill in".
    result = runner.invoke(
        main,
        ["init", str(tmp_path), "--no-input", "--name", "Anna Kowalska", "--timezone",
         "Europe/Paris", "--language", language, "--calendar-env", "none",
         "--imprint", "legal.md", "--privacy", "data.md"],
    )
    assert result.exit_code == 0, result.output
    content = tmp_path / "content"
    stubs = {name: (content / name).read_text(encoding="utf-8") for name in
             ("legal.md", "data.md", "intro.md")}
    _ = translations(language, [BUNDLED_THEMES / "default"]).gettext
    assert stubs["legal.md"].startswith(f"# {_('Legal notice')}\n\nAnna Kowalska\n")
    assert stubs["data.md"].startswith(f"# {_('Privacy policy')}\n\nAnna Kowalska\n")
    built = runner.invoke(
        main,
        ["build", "--config", str(content / "site.toml"), "--now", "2026-11-27T08:00:00Z",
         "--out", str(tmp_path / "public")],
    )
    assert built.exit_code == 0, built.output
    texts = dict(stubs)
    for name in ("index.html", "imprint.html", "privacy.html"):
        texts[name] = shown((tmp_path / "public" / name).read_text(encoding="utf-8"))
    assert _leftovers(texts, language) == {}
    assert stubs["legal.md"].splitlines()[0][2:] in texts["imprint.html"]
