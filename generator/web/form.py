"""The booking form's fields -> a validated request, or the list of what is wrong.

Pure and IO-free: the handler passes the submitted fields (form-encoded or
JSON, already decoded to strings) and the settings, and gets either a
:class:`BookingForm` or :class:`FieldProblem` values naming each bad field,
so a refusal can say exactly what to fix, in the page's language.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from generator.config.settings import Settings
from generator.contact import ascii_email
from generator.i18n import pick_language

__all__ = [
    "LIMITS",
    "BookingForm",
    "FieldProblem",
    "answer_language",
    "idempotency_key",
    "parse_form",
    "safe_back",
]

# (minimum, maximum) length of each text field, after trimming spaces.
LIMITS = {
    "name": (1, 100),
    "topic": (1, 80),
    "note": (0, 1000),
    "phone": (5, 30),
    "email": (3, 254),
}

# Dots too: "+1.212.555.0100", "06.12.34.56.78" are how many people write their number.
_PHONE_RE = re.compile(r"^[0-9 +()\-/.]+$")
_SINGLE_LINE = (
    "name",
    "phone",
    "email",
    "topic",
    "slot",
    "idem",
    "tz",
    "lang",
    "who_calls",
    "call_type",
    "back",
    "consent",
)
# Fields whose control characters are reported; in the others (tz, back, ...) they only
# make the value be ignored.
_CHECKED = ("name", "phone", "email", "topic", "note", "slot", "who_calls", "consent")


@dataclass(frozen=True)
class FieldProblem:
    """One bad field: ``code`` is "missing", "too_long", "control", "invalid", "undialable".

    "undialable": a phone number that has the right characters but no number
    in the caller's or the owner's country (too short, unknown area code).
    """

    field: str
    code: str


@dataclass(frozen=True)
class BookingForm:
    """A submitted booking form whose fields passed every check (the slot is not checked here)."""

    slot: str
    name: str
    phone: str
    email: str
    topic: str
    note: str
    who_calls: str
    caller_timezone: str
    language: str
    back: str
    idem: str
    consent: bool = False  # the caller ticked the consent box ([privacy] require_consent)


def _has_control(text: str, *, allow_newline: bool) -> bool:
    for ch in text:
        if allow_newline and ch == "\n":
            continue
        # Cc: C0/C1 controls incl. CR, LF, NUL, DEL; Zl/Zp: Unicode line separators.
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            return True
        # Bidi embeddings, overrides and isolates reorder the text around them in the
        # owner's mail and calendar ("Trojan Source"); other format characters such as
        # the zero-width joiner in emoji stay allowed.
        if "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069":
            return True
    return False


def answer_language(value: str | None, settings: Settings) -> str:
    """The language a request is answered and mailed in: the posted ``lang`` when the site
    is built in it (site.languages, or owner.language alone), else the owner's language
    (or the site's first one, when the owner's is not among them)."""
    languages = settings.site.languages or (settings.owner.language,)
    owner = settings.owner.language
    return pick_language(value, owner if owner in languages else languages[0], among=languages)


def safe_back(value: str) -> str | None:
    """A same-site path for the "back to the open slots" link, or None.

    Only a path starting with one "/" is taken: "//host" and "/\\host" would
    leave the site, and a scheme would allow javascript: links.
    """
    if (
        not value
        or len(value) > 300
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or _has_control(value, allow_newline=False)
    ):
        return None
    return value


def idempotency_key(form: BookingForm) -> str:
    """One key per person, slot and topic: the same form sent twice gives one booking.

    The page's own ``idem`` value is mixed in, never used alone, so nobody can
    fetch another caller's booking by replaying their key.
    """
    parts = (
        form.idem,
        form.slot,
        form.name.casefold(),
        form.phone,
        form.email.casefold(),
        form.topic.casefold(),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def parse_form(fields: Mapping[str, str], settings: Settings) -> BookingForm | list[FieldProblem]:
    """Check every field; all problems at once, so the caller fixes them in one go."""
    problems: list[FieldProblem] = []

    def text(name: str) -> str:
        value = fields.get(name) or ""
        if name == "note":
            # Browsers send a textarea's line breaks as CRLF: keep them, as plain LF.
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        if _has_control(value, allow_newline=name == "note"):
            if name in _CHECKED:
                problems.append(FieldProblem(name, "control"))
            return ""
        return value.strip()

    values = {name: text(name) for name in (*_SINGLE_LINE, "note")}
    rules = settings.booking
    for name, (low, high) in LIMITS.items():
        value = values[name]
        if any(p.field == name for p in problems):
            continue
        required = (
            name in ("name", "topic")
            or (name == "phone" and rules.require_phone)
            or (name == "email" and rules.require_email)
        )
        if not value:
            if required:
                problems.append(FieldProblem(name, "missing"))
            continue
        if len(value) > high:
            problems.append(FieldProblem(name, "too_long"))
        elif (
            len(value) < low
            or (name == "phone" and not _PHONE_RE.match(value))
            or (name == "email" and not ascii_email(value))
        ):
            problems.append(FieldProblem(name, "invalid"))
        elif name == "email":
            # "max@müller.de" works; the confirmation mail needs the xn-- form.
            values[name] = ascii_email(value) or value
        elif name == "phone":
            from generator.phone import default_region, normalise

            # Stored as E.164, so the owner's phone, calendars and later look-ups agree;
            # "(((-)" or a number with a digit missing is refused here, not at call time.
            e164 = normalise(value, default_region(settings.owner))
            if e164 is None:
                problems.append(FieldProblem(name, "undialable"))
            else:
                values[name] = e164
    if not values["slot"] and not any(p.field == "slot" for p in problems):
        problems.append(FieldProblem("slot", "missing"))

    who = rules.who_calls
    if who == "either":
        who = values["who_calls"] or "owner"
        if who not in ("owner", "caller"):
            problems.append(FieldProblem("who_calls", "invalid"))
    if who == "owner" and not values["phone"] and not any(p.field == "phone" for p in problems):
        # The owner cannot call back without a number, whatever require_phone says.
        problems.append(FieldProblem("phone", "missing"))

    # A ticked checkbox sends its value ("yes"); JSON clients may send true.
    consent = settings.privacy.require_consent and values["consent"].lower() in (
        "yes", "on", "true", "1")
    if settings.privacy.require_consent and not consent:
        problems.append(FieldProblem("consent", "missing"))

    tz = values["tz"]
    if tz:
        try:
            ZoneInfo(tz)
        except (ValueError, KeyError, OSError):  # an invalid zone is only a lost convenience
            tz = ""
    language = answer_language(values["lang"], settings)
    if problems:
        return problems
    return BookingForm(
        slot=values["slot"],
        name=values["name"],
        phone=values["phone"],
        email=values["email"],
        topic=values["topic"],
        note=values["note"],
        who_calls=who,
        caller_timezone=tz,
        language=language,
        back=safe_back(values["back"]) or "",
        idem=values["idem"][:200],
        consent=consent,
    )
