"""The settings schema: each option of site.toml once, with its help and its default.

An option's default is written here in TOML form ("14d", true, ["1d"]) and
nowhere else: the help text's "Default ..." phrase is made from it, the loader
falls back to it (FieldReader looks it up by the option's dotted name), and the
dataclasses in settings.py, notify.py and privacy.py take it through
:func:`default`. An option whose default is not one value (required ones, "the
duration", "owner.email") says so in words (``says``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from generator.config.valuetypes import parse_duration, parse_reminders
from generator.i18n import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["OPTIONS", "SCHEMA", "Option", "default", "option"]

_LANGUAGE_LIST = ", ".join(f'"{code}"' for code in LANGUAGES)


@dataclass(frozen=True)
class Option:
    """One setting: its dotted name, what it does, and its default.

    ``default`` is the value as written in site.toml, None when there is no
    single one; ``says`` puts the default in words instead ("no limit", "the
    duration"); ``parse`` turns the written value into the one the settings
    hold (a duration into a timedelta), None for text, numbers and switches.
    """

    name: str
    help: str
    default: Any = None
    says: str = ""
    parse: Callable[..., Any] | None = None

    @property
    def text(self) -> str:
        """The help sentence with its default: what `callslot` prints and errors quote."""
        if self.says:
            return f"{self.help} Default: {self.says}."
        if self.default is None:
            return self.help
        if self.default == "":
            return f"{self.help} Optional."
        return f"{self.help} Default {json.dumps(self.default, ensure_ascii=False)}."

    def value(self, written: object) -> Any:
        """A written value (the default, or one read from site.toml) as the settings hold it."""
        return self.parse(written, field=self.name) if self.parse else written


def _per_language(key: str, german: str, english: str) -> str:
    """How a text the caller sees is given per language (site.languages), said once per option."""
    return (f"One text serves every language; with site.languages, give a table of language "
            f"code -> text instead, e.g. {key} = {{ de = \"{german}\", en = \"{english}\" }}: "
            "the owner.language text is required there and shown for any language left out.")


def _weekday(day: str) -> Option:
    return Option(f"availability.{day}",
                  f"Open hours on {day.capitalize()}s, written like availability.monday.")


_TABLE = (
    # [owner]
    Option("owner.name", "Your name as callers see it. Required."),
    Option("owner.timezone",
           "IANA time zone of your working day, e.g. \"Europe/Berlin\". Required."),
    Option("owner.language",
           "Language of the page and of every message to you and to callers: "
           f"{_LANGUAGE_LIST}.", default=DEFAULT_LANGUAGE),
    Option("owner.email",
           "Where booking notifications go; also the ORGANIZER of invitations."),
    Option("owner.phone",
           "Your phone number, shown to callers when they are to call you."),
    Option("owner.role",
           "Your role or profession under your name, e.g. \"Steuerberaterin\".", default=""),
    Option("owner.organisation",
           "Your practice, firm or company, shown beside the role.", default=""),
    Option("owner.photo",
           "A photo of you in content/ (JPEG, PNG or WebP), shown small beside your name; "
           "resized and compressed at build time and inlined.", default=""),
    Option("owner.phone_region",
           "Country of phone numbers written without +, e.g. \"DE\" (ISO 3166).", default="",
           says="the country of owner.phone, else none (callers then write numbers with +)"),
    # [[calendars]]
    Option("calendars",
           "List of calendars whose events block time: [[calendars]] with name and source "
           "(a file path relative to content/, an http(s):// or webcal:// URL, or "
           "\"env:NAME\" to read a secret URL from the environment)."),
    Option("calendars.name", "A label for messages; never the URL.",
           says="the file name or \"calendar N\""),
    Option("calendars.source",
           "File path, URL or \"env:NAME\". Required. A calendar behind a login takes it in "
           "the URL, https://user:password@host/path (sent as HTTP Basic auth, never on to a "
           "redirect; percent-encode @ : / in the password); such a URL holds a password, so "
           "make it an env: value."),
    # [availability]
    Option("availability.monday",
           "Open hours on Mondays, e.g. [\"09:00-12:00\", \"14:00-17:00\"]; likewise "
           "tuesday ... sunday. A missing day is closed."),
    *(_weekday(day) for day in
      ("tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")),
    Option("availability.dates",
           "Special hours on single dates: \"2026-12-23\" = [\"09:00-12:00\"]; an empty list "
           "closes that date."),
    Option("availability.closed",
           "Closed date ranges (holidays, vacation): [[availability.closed]] with from and "
           "until (both inclusive, YYYY-MM-DD)."),
    Option("availability.closed.from", "First closed day, YYYY-MM-DD. Required."),
    Option("availability.closed.until", "Last closed day (inclusive), YYYY-MM-DD.",
           says="from"),
    Option("availability.closed.reason",
           "A note for yourself (\"vacation\"); never shown to callers."),
    # [booking]
    Option("booking.notice", "Minimum time between booking and call, e.g. \"4h\".",
           default="0m", parse=parse_duration),
    Option("booking.horizon", "How far ahead slots are offered, e.g. \"14d\".",
           default="14d", parse=parse_duration),
    Option("booking.buffer_before",
           "Free time kept before each busy interval and booking.",
           default="0m", parse=parse_duration),
    Option("booking.buffer_after",
           "Free time kept after each busy interval and booking.",
           default="0m", parse=parse_duration),
    Option("booking.max_per_day", "Most calls on one day, bookings counted.",
           says="no limit"),
    Option("booking.offers_per_day", "Offer only N well-spread start times per day.",
           says="all"),
    Option("booking.endpoint", "Where the form posts.", default="/api/book"),
    Option("booking.taken_endpoint",
           "Where the page asks for slots taken since the build.", default="/api/taken"),
    Option("booking.who_calls",
           "\"owner\" (you call the caller), \"caller\" (they call you) or \"either\" (the "
           "caller chooses); the last two need owner.phone.", default="owner"),
    Option("booking.require_phone", "The caller must give a phone number.", default=True),
    Option("booking.require_email", "The caller must give an email address.", default=False),
    Option("booking.rate_limit",
           "Bookings per client address, e.g. \"5/10m\"; \"off\" disables. "
           "CALLSLOT_RATE_LIMIT overrides it.", default="5/10m"),
    Option("booking.backend",
           "\"handler\" (the callslot handler records bookings) or \"netlify-forms\" "
           "(Netlify Forms stores submissions).", default="handler"),
    Option("booking.recheck_calendars",
           "The handler re-reads the calendars before recording a booking.", default=True),
    Option("booking.allowed_origins",
           "Other sites whose pages may post the booking form, e.g. "
           "[\"https://www.example.org\"]; the handler refuses forms from any other site. "
           "The page's own address (site.base_url) is always allowed.", says="none"),
    # [[call_types]]
    Option("call_types", "At least one [[call_types]] with slug, title, duration and step."),
    Option("call_types.slug", "Short name used in URLs (a-z, 0-9, -). Required."),
    Option("call_types.title",
           "What the caller sees, e.g. \"Telefonat (30 Minuten)\". Required. " + _per_language(
               "title", "Telefonat (30 Minuten)", "Phone call (30 minutes)")),
    Option("call_types.duration", "Length of the call, e.g. \"30m\". Required."),
    Option("call_types.step", "Spacing of start times, e.g. \"30m\".", says="the duration"),
    Option("call_types.description",
           "One line under the title. " + _per_language(
               "description", "Wir klären Ihre Frage.", "We answer your question."),
           default=""),
    # [site]
    Option("site.title",
           "Page title. " + _per_language("title", "Anna Beispiel: Rückruf",
                                          "Anna Beispiel: call back"), default="",
           says="\"<owner name>: schedule a call\" in the page's language "
                "(\"Rückruf vereinbaren\" in German)"),
    Option("site.description",
           "Description for search and link previews. " + _per_language(
               "description", "Steuerberatung am Telefon", "Tax advice by phone"),
           default=""),
    Option("site.base_url",
           "Public address of the page, e.g. \"https://call.example.org\"; used for links in "
           "offers and link previews.", default=""),
    Option("site.theme", "Theme name (a folder in themes/) or a path.", default="default"),
    Option("site.intro", "Markdown file in content/ shown above the slots.",
           default="intro.md"),
    Option("site.robots_index", "Let search engines index the page.", default=False),
    Option("site.allow_framing", "Allow the page inside frames of other sites.",
           default=False),
    Option("site.imprint",
           "Your Impressum (legal notice): a full URL, or a Markdown file in content/ that is "
           "built into imprint.html. Linked from every page and mail.", default=""),
    Option("site.privacy_policy",
           "Your Datenschutzerklärung (privacy notice): a full URL, or a Markdown file in "
           "content/ built into privacy.html. Linked from every page and mail.", default=""),
    Option("site.languages",
           "Build the page in several languages, e.g. [\"de\", \"en\", \"pl\"]: the first at "
           "the root, each other in its own folder (/en/, /pl/), linked by a language "
           "switcher and hreflang links; a booking is answered and mailed in the language of "
           f"its page. Choices: {_LANGUAGE_LIST}.", says="owner.language only"),
    # [notify]
    Option("notify.email.host", "SMTP server (SMTP_URL in the environment takes precedence)."),
    Option("notify.email.port", "SMTP port.", says="587 (465 with security = \"ssl\")"),
    Option("notify.email.security", "\"starttls\", \"ssl\" or \"none\".", default="starttls"),
    Option("notify.email.username", "SMTP user name."),
    Option("notify.email.password", "SMTP password, as \"env:NAME\"."),
    Option("notify.email.sender", "From address.", says="owner.email"),
    Option("notify.webhooks",
           "URLs to POST JSON to (Slack-compatible); secret ones as \"env:NAME\"."),
    Option("notify.webhook_secret",
           "Key for the X-Callslot-Signature header, as \"env:NAME\".", says="CALLSLOT_SECRET"),
    Option("notify.build_hook",
           "A build hook URL (Netlify) POSTed after bookings, as \"env:NAME\"."),
    Option("notify.feed_key",
           "Key of the private bookings feed /api/bookings.ics, as \"env:NAME\"."),
    Option("notify.reminders",
           "When reminders go out before a call, e.g. [\"1d\", \"1h\"]; days count on the "
           "owner's calendar (\"1d\": the day before, same time), hours exactly; [] for none. "
           "Sent by `callslot notify` on a schedule (or `callslot serve`).",
           default=["1d"], parse=parse_reminders),
    Option("notify.remind_owner",
           "Also send each reminder to owner.email (the invitation in the owner's calendar "
           "has its own alarm).", default=False),
    # [privacy]
    Option("privacy.keep",
           "How long a call's personal data (name, phone, email, topic, note, the caller's "
           "time zone, the mails about it) is kept after the call, e.g. \"30d\"; \"0d\" erases "
           "it as soon as the call is over. Only what `callslot stats` counts stays (call "
           "type, times, outcome, cancelled or not). Erased by `callslot notify`, `callslot "
           "serve` and `callslot bookings purge`.", default="90d", parse=parse_duration),
    Option("privacy.require_consent",
           "Callers must tick a consent box (its text comes from the theme's translations) "
           "before booking; the text and the time of consent are stored with the booking.",
           default=False),
)

SCHEMA: dict[str, Option] = {o.name: o for o in _TABLE}

# Each option's help text with its default, by dotted name.
OPTIONS: dict[str, str] = {name: o.text for name, o in SCHEMA.items()}


def option(dotted: str) -> Option:
    """The option of a dotted name; indexes are dropped ("call_types[1].step")."""
    return SCHEMA[re.sub(r"\[\d+\]", "", dotted)]


def default(dotted: str) -> Any:
    """An option's default as the settings hold it: "14d" as timedelta(days=14)."""
    found = SCHEMA[dotted]
    if found.default is None:
        raise LookupError(f"{dotted} has no single default ({found.says or 'required'})")
    return found.value(found.default)
