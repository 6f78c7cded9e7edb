"""`callslot init`: a first content/ folder (site.toml, intro.md) for a new owner.

The answers (name, time zone, language, the environment variable holding the
secret calendar address, opening hours) are checked before anything is
written, the generated settings are validated by loading them, and an
existing file is never overwritten.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from generator.config.settings import WEEKDAYS, load_settings, parse_hours
from generator.config.valuetypes import parse_timezone
from generator.errors import ConfigError
from generator.i18n import BUNDLED_THEMES, LANGUAGES, N_, translations

__all__ = [
    "InitAnswers",
    "check_answer",
    "intro_markdown",
    "legal_markdown",
    "scaffold",
    "site_toml",
]

WORKDAYS = WEEKDAYS[:5]


@dataclass(frozen=True)
class InitAnswers:
    name: str
    timezone: str = "Europe/Berlin"
    language: str = "de"
    calendar_env: str = "CALLSLOT_CALENDAR_URL"  # "" for no calendar yet
    hours: str = "09:00-12:00,14:00-17:00"  # Monday to Friday
    # Impressum and Datenschutz: an https:// address, a Markdown file to create in content/,
    # or "" (German business pages need both; the page and every mail link them).
    imprint: str = ""
    privacy_policy: str = ""


def _check(answers: InitAnswers) -> None:
    if not answers.name.strip():
        raise ConfigError("the name must not be empty; callers see it on the page", field="--name")
    parse_timezone(answers.timezone, field="--timezone")
    if answers.language not in LANGUAGES:
        raise ConfigError(
            f"{answers.language!r} is not supported; choose " + " or ".join(LANGUAGES),
            field="--language",
        )
    if answers.calendar_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", answers.calendar_env):
        raise ConfigError(
            f"{answers.calendar_env!r} is not an environment variable name; "
            "write e.g. CALLSLOT_CALENDAR_URL",
            field="--calendar-env",
        )
    _hours(answers)
    for field, value in (("--imprint", answers.imprint), ("--privacy", answers.privacy_policy)):
        _legal(value, field)


def _legal(value: str, field: str) -> None:
    value = value.strip()
    if not value or re.match(r"^https?://[^\s/]+\S*$", value):
        return
    if not re.fullmatch(r"[\w-]+\.md", value):
        raise ConfigError(
            f"{value!r}: write the https:// address of the page, a Markdown file name such "
            "as impressum.md (created in content/ for you to fill in), or nothing",
            field=field,
        )


def check_answer(field: str, value: str) -> str:
    """One answer (``field`` names an InitAnswers field) checked on its own; ConfigError if wrong.

    `callslot init` asks again after a wrong answer instead of failing after the last question.
    """
    value = value.strip()
    if field in ("calendar_env", "imprint", "privacy_policy") and value.lower() in (
        "", "none", "-"
    ):
        return "" if field != "calendar_env" else value
    _check(replace(InitAnswers(name="-"), **{field: value}))
    return value


def _hours(answers: InitAnswers) -> list[str]:
    ranges = [part.strip() for part in answers.hours.split(",") if part.strip()]
    parse_hours(ranges, field="--hours")  # raises with a fix-it message
    return ranges


def _q(text: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these values)."""
    return json.dumps(text, ensure_ascii=False)


def site_toml(answers: InitAnswers) -> str:
    """The settings file for ``answers``, commented for a first-time owner."""
    _check(answers)
    de = answers.language == "de"
    hours = "[" + ", ".join(_q(r) for r in _hours(answers)) + "]"
    lines = [
        "# callslot settings. `callslot build` reads this file; every option is explained in",
        '# the README. Secrets (calendar addresses, passwords) are written as "env:NAME"',
        "# and read from the environment.",
        "",
        "[owner]",
        f"name = {_q(answers.name.strip())}",
        f"timezone = {_q(answers.timezone)}",
        f"language = {_q(answers.language)}",
        '# email = "you@example.org"   # where booking notifications go',
        '# phone = "+49 30 1234567"    # the number callers dial when they call you',
        "",
        "[site]",
        '# base_url = "https://call.example.org"   # the page\'s public address (for links)',
        'intro = "intro.md"',
    ]
    legal = (
        ("imprint", answers.imprint, "Impressum (legal notice)"),
        ("privacy_policy", answers.privacy_policy, "Datenschutzerklärung (privacy notice)"),
    )
    for key, value, what in legal:
        if value.strip():
            lines.append(f"{key} = {_q(value.strip())}")
        else:
            lines.append(f'# {key} = "https://..."   # your {what}, or a Markdown file in content/')
    lines += [
        "",
    ]
    if answers.calendar_env:
        lines += [
            '# The secret ICS address of your calendar (Google: "Secret address in iCal format";',
            '# Outlook: "Publish calendar"), exported before `callslot build`:',
            f"#   export {answers.calendar_env}='https://...'",
            "[[calendars]]",
            f"name = {_q(_text(answers.language)(N_('Calendar')))}",
            f"source = {_q('env:' + answers.calendar_env)}",
            "",
        ]
    lines += ["[availability]"]
    lines += [f"{day} = {hours}" for day in WORKDAYS]
    lines += [
        "",
        "[booking]",
        'notice = "4h"      # earliest booking: this long from now',
        'horizon = "14d"    # latest booking: this far ahead',
        'buffer_before = "10m"',
        'buffer_after = "10m"',
        "offers_per_day = 3",
        'who_calls = "owner"  # you call the caller; "caller" or "either" need owner.phone',
        "",
        "[[call_types]]",
        "slug = " + _q("rueckruf" if de else "call"),
        "title = " + _q(_text(answers.language)(N_("Phone call (30 minutes)"))),
        'duration = "30m"',
        'step = "30m"',
    ]
    return "\n".join(lines) + "\n"


# The first texts a new owner gets, in their language (from the default theme's catalogs):
# callers read them until the owner writes their own.
_INTRO = (
    N_("I am often in meetings during the day and cannot take calls spontaneously."),
    N_("Pick an open time – **I will call you then, reliably**."),
    N_("Please give me a *keyword* so that I can prepare."),
)


def _text(language: str) -> Callable[[str], str]:
    return translations(language, [BUNDLED_THEMES / "default"]).gettext


def intro_markdown(answers: InitAnswers) -> str:
    """A first intro text in the owner's language, to be edited."""
    _ = _text(answers.language)
    first, second, third = (_(line) for line in _INTRO)
    return f"{first}\n{second}\n\n{third}\n"


# The headings and the note of a legal page the owner still has to write, in the site's
# language: a French site must not publish "# Impressum" over an English placeholder.
_LEGAL_HEADINGS = {"imprint": N_("Legal notice"), "privacy": N_("Privacy policy")}
_LEGAL_TODO = N_(
    "Please fill in: this text is a placeholder, not legal advice. It is built "
    "into a page of the site and linked from every page and mail."
)


def legal_markdown(kind: str, answers: InitAnswers) -> str:
    """A first Markdown page for the legal notice ("imprint") or the privacy policy
    ("privacy") in the owner's language, to be filled in."""
    _ = _text(answers.language)
    return f"# {_(_LEGAL_HEADINGS[kind])}\n\n{answers.name.strip()}\n\n{_(_LEGAL_TODO)}\n"


def scaffold(target: Path, answers: InitAnswers) -> tuple[list[Path], list[Path]]:
    """Write ``target``/content/site.toml and intro.md; returns (written, kept as they were).

    Raises ConfigError (nothing written) when an answer is invalid.
    """
    toml = site_toml(answers)
    # Validate the generated settings before touching the target folder.
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "content" / "site.toml"
        probe.parent.mkdir()
        probe.write_text(toml, encoding="utf-8")
        for value in (answers.imprint, answers.privacy_policy):
            if value.strip().endswith(".md"):
                (probe.parent / value.strip()).write_text("", encoding="utf-8")
        load_settings(probe, env={})
    content = Path(target) / "content"
    content.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    kept: list[Path] = []
    files = [("site.toml", toml), ("intro.md", intro_markdown(answers))]
    for value, kind in ((answers.imprint, "imprint"), (answers.privacy_policy, "privacy")):
        if value.strip().endswith(".md"):
            files.append((value.strip(), legal_markdown(kind, answers)))
    for name, text in files:
        path = content / name
        try:
            # "x" mode: fails instead of overwriting, even if the file appeared just now.
            with path.open("x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            kept.append(path)
            continue
        written.append(path)
    # What is there now must load (an existing site.toml too): report its mistakes early.
    load_settings(content / "site.toml", env={})
    return written, kept
