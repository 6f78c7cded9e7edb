"""content/site.toml -> Settings: a typed schema, validated once at load.

Every option lives once in the schema (options.py) with its help and its
default, which the dataclasses below and the loader both take; the loader
checks each value and reports the file, the field (and line, where it can be
found) of any mistake. Secrets are written as ``"env:NAME"`` and read from the
environment; they are wrapped in :class:`Secret` so they never show in a repr.

Value parsing (durations, ranges, rate limits, Secret) lives in valuetypes.py,
reading typed fields with their line in fields.py, and the [notify] table
with SMTP_URL in notify.py; the names stay importable from here.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from generator.config.fields import FieldReader
from generator.config.notify import EmailSettings, NotifySettings, read_notify
from generator.config.options import OPTIONS, default
from generator.config.privacy import PrivacySettings, read_privacy
from generator.config.valuetypes import (
    DayRange,
    Secret,
    parse_duration,
    parse_hours,
    parse_range,
    parse_rate_limit,
    parse_timezone,
)
from generator.errors import ConfigError
from generator.i18n import LANGUAGES

__all__ = [
    "OPTIONS",
    "WEEKDAYS",
    "Availability",
    "BookingRules",
    "CalendarSource",
    "CallType",
    "DayRange",
    "EmailSettings",
    "NotifySettings",
    "Owner",
    "PrivacySettings",
    "Secret",
    "Settings",
    "SiteOptions",
    "Translations",
    "check_settings",
    "find_config",
    "in_language",
    "load_settings",
    "parse_duration",
    "parse_hours",
    "parse_range",
    "parse_rate_limit",
    "unknown_call_type",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_CONFIG = Path("content") / "site.toml"


# --------------------------------------------------------------------------
# The settings


@dataclass(frozen=True)
class Owner:
    name: str
    timezone: str
    language: str = default("owner.language")
    email: str | None = None
    phone: str | None = None
    role: str = default("owner.role")
    organisation: str = default("owner.organisation")
    photo: str = default("owner.photo")  # image file in content/, "" for none
    phone_region: str = default("owner.phone_region")  # ISO country ("DE"); "" unknown

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class CalendarSource:
    """One calendar to read. ``name`` is safe to print; ``location`` may be secret."""

    name: str
    location: Secret
    kind: str  # "file" or "url"

    def path(self) -> Path:
        return Path(self.location.get())

    def url(self) -> str:
        """The URL to fetch; webcal:// means https://."""
        value = self.location.get()
        if value.lower().startswith("webcal://"):
            return "https://" + value[len("webcal://"):]
        return value


@dataclass(frozen=True)
class Availability:
    """Weekly hours (index 0 = Monday), special hours on dates, closed date ranges."""

    weekly: tuple[tuple[DayRange, ...], ...] = tuple(() for _ in WEEKDAYS)
    dates: tuple[tuple[date, tuple[DayRange, ...]], ...] = ()
    closed: tuple[tuple[date, date], ...] = ()

    def ranges_for(self, day: date) -> tuple[DayRange, ...]:
        """The open hours of one local day, after overrides and closed ranges."""
        for first, last in self.closed:
            if first <= day <= last:
                return ()
        for special, ranges in self.dates:
            if special == day:
                return ranges
        return self.weekly[day.weekday()]


# An owner's text per language, as (language code, text) pairs: site.toml's table
# { de = "...", en = "..." }; () when one text serves every language.
Translations = tuple[tuple[str, str], ...]


def in_language(text: str, translations: Translations, language: str | None) -> str:
    """The text of ``language`` from ``translations``, else ``text`` (the owner's language)."""
    return next((value for code, value in translations if code == language), text)


@dataclass(frozen=True)
class CallType:
    slug: str
    title: str  # in owner.language; title_in() gives a page's language
    duration: timedelta
    step: timedelta
    description: str = ""  # in owner.language; description_in() gives a page's language
    titles: Translations = ()
    descriptions: Translations = ()

    def title_in(self, language: str | None) -> str:
        """The title a page or mail in ``language`` shows (the owner's when not given)."""
        return in_language(self.title, self.titles, language)

    def description_in(self, language: str | None) -> str:
        return in_language(self.description, self.descriptions, language)


@dataclass(frozen=True)
class BookingRules:
    notice: timedelta = default("booking.notice")
    horizon: timedelta = default("booking.horizon")
    buffer_before: timedelta = default("booking.buffer_before")
    buffer_after: timedelta = default("booking.buffer_after")
    max_per_day: int | None = None
    offers_per_day: int | None = None
    endpoint: str = default("booking.endpoint")
    taken_endpoint: str = default("booking.taken_endpoint")
    # "owner" calls the caller, "caller" calls the owner, "either"
    who_calls: str = default("booking.who_calls")
    require_phone: bool = default("booking.require_phone")
    require_email: bool = default("booking.require_email")
    rate_limit: str = default("booking.rate_limit")
    backend: str = default("booking.backend")  # or "netlify-forms"
    recheck_calendars: bool = default("booking.recheck_calendars")
    # Other sites whose pages may post bookings (the site's own address always may).
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteOptions:
    title: str = default("site.title")  # in owner.language; title_in() gives a page's
    description: str = default("site.description")
    base_url: str = default("site.base_url")
    theme: str = default("site.theme")
    intro: str = default("site.intro")
    robots_index: bool = default("site.robots_index")
    allow_framing: bool = default("site.allow_framing")
    imprint: str = default("site.imprint")  # URL or Markdown file in content/ (Impressum)
    privacy_policy: str = default("site.privacy_policy")  # URL or Markdown file (Datenschutz)
    # The languages the page is built in, the first at the root; () = owner.language only.
    languages: tuple[str, ...] = ()
    titles: Translations = ()  # title and description in further languages
    descriptions: Translations = ()

    def title_in(self, language: str | None) -> str:
        """site.title in ``language`` (the owner's when not given; "" for the theme's)."""
        return in_language(self.title, self.titles, language)

    def description_in(self, language: str | None) -> str:
        return in_language(self.description, self.descriptions, language)


@dataclass(frozen=True)
class Settings:
    owner: Owner
    call_types: tuple[CallType, ...]
    calendars: tuple[CalendarSource, ...] = ()
    availability: Availability = field(default_factory=Availability)
    booking: BookingRules = field(default_factory=BookingRules)
    site: SiteOptions = field(default_factory=SiteOptions)
    notify: NotifySettings = field(default_factory=NotifySettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    path: Path | None = None  # the site.toml read, None for settings made from CLI flags
    root: Path = field(default_factory=Path.cwd)  # the folder holding content/ and .callslot/

    @property
    def content_dir(self) -> Path:
        return self.path.parent if self.path else self.root / "content"

    @property
    def state_dir(self) -> Path:
        """Local state (database, cache, dev secret): never committed."""
        return self.root / ".callslot"

    @property
    def tz(self) -> ZoneInfo:
        return self.owner.tz

    def call_type(self, slug: str) -> CallType | None:
        return next((c for c in self.call_types if c.slug == slug), None)


# --------------------------------------------------------------------------
# Loading


def find_config(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The content/site.toml of the site that holds ``start`` (default: the current folder).

    Looks in ``start`` and then in each folder above it, as git finds its
    repository, so a command run inside content/ or one of its subfolders
    finds its site; None when no folder up to the root has one.
    """
    here = Path(start if start is not None else Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_CONFIG
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a site.toml; ``path`` defaults to the site found by find_config()."""
    env = os.environ if env is None else env
    if path is None:
        found = find_config()
        if found is None:
            raise ConfigError(
                f"no {DEFAULT_CONFIG} in {Path.cwd()} or any folder above it; run the "
                "command in your site's folder, create a site with `callslot init`, or pass "
                "--config PATH"
            )
        path = found
    file = Path(path)
    shown = str(file)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "settings file not found; create one with `callslot init` or pass --config PATH",
            file=shown,
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the settings file: {exc}", file=shown) from None
    try:
        # utf-8-sig: Windows Notepad starts the file with a byte order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "is not UTF-8 text (an umlaut or accent in another encoding?); save it as UTF-8",
            file=shown, line=raw[: exc.start].count(b"\n") + 1,
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        number = int(line.group(1)) if line else None
        raise ConfigError(f"not valid TOML: {_toml_problem(str(exc), text, number)}", file=shown,
                          line=number) from None
    file = file.resolve()
    return _settings_from_data(data, FieldReader(data, shown, text, env), file)


def _settings_from_data(data: dict[str, Any], r: FieldReader, file: Path) -> Settings:
    r.unknown(data, {"owner", "calendars", "availability", "booking", "call_types", "site",
                     "notify", "privacy"}, "")
    content_dir = file.parent
    owner = _owner(r, r.table(data, "owner", "owner"))
    calendars = _calendars(r, data.get("calendars", []), content_dir)
    availability = _availability(r, r.table(data, "availability", "availability"))
    booking = _booking(r, r.table(data, "booking", "booking"), r.env)
    if booking.who_calls != "owner" and not owner.phone:
        # Otherwise the confirmation tells the caller to dial "—".
        raise r.error("booking.who_calls",
                      f"is \"{booking.who_calls}\", so callers may call you: set owner.phone "
                      "to the number they should dial, or write who_calls = \"owner\"")
    call_types = _call_types(r, data.get("call_types"), owner.language)
    site = _site(r, r.table(data, "site", "site"), owner)
    notify = read_notify(r, r.table(data, "notify", "notify"), owner.email)
    privacy = read_privacy(r, r.table(data, "privacy", "privacy"))
    return Settings(owner=owner, call_types=call_types, calendars=calendars,
                    availability=availability, booking=booking, site=site, notify=notify,
                    privacy=privacy, path=file, root=content_dir.parent)


def _owner(r: FieldReader, t: dict[str, Any]) -> Owner:
    r.unknown(t, {"name", "timezone", "language", "email", "phone", "role", "organisation",
                  "photo", "phone_region"}, "owner")
    name = r.string(t, "name", "owner.name", required=True)
    tzname = r.string(t, "timezone", "owner.timezone", required=True)
    assert name is not None and tzname is not None
    try:
        parse_timezone(tzname, field="owner.timezone")
    except ConfigError as exc:  # again with the line of the mistake
        raise r.error("owner.timezone", exc.reason) from None
    written = t.get("language")
    if isinstance(written, str) and written.strip() not in ("", *LANGUAGES):
        from generator.config.suggest import language_hint

        known = ", ".join(f'"{code}"' for code in LANGUAGES)
        raise r.error("owner.language", f"{written.strip()!r} is not allowed"
                      f"{language_hint(written, LANGUAGES)}; choose one of {known}")
    language = r.text(t, "language", "owner.language", choices=LANGUAGES)
    email = r.string(t, "email", "owner.email")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise r.error("owner.email", f"{email!r} is not an email address")
    phone = r.string(t, "phone", "owner.phone")
    region = r.text(t, "phone_region", "owner.phone_region").upper()
    if region:
        from generator.phone import known_region

        if not known_region(region):
            raise r.error("owner.phone_region", f"{region!r} is not a country code; write two "
                          "letters such as \"DE\", \"AT\" or \"US\"")
    if phone:
        from generator.phone import owner_number

        problem = owner_number(phone, region)
        if problem:
            raise r.error("owner.phone", problem)
    photo = r.text(t, "photo", "owner.photo")
    if photo and not (Path(r.file).parent / photo).is_file():
        raise r.error("owner.photo", f"the image {photo!r} is not in content/; put the photo "
                      "there or remove owner.photo")
    return Owner(name=name, timezone=tzname, language=language, email=email,
                 phone=phone, role=r.text(t, "role", "owner.role"),
                 organisation=r.text(t, "organisation", "owner.organisation"),
                 photo=photo, phone_region=region)


def _calendars(r: FieldReader, value: object, content_dir: Path) -> tuple[CalendarSource, ...]:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise r.error("calendars", "expected [[calendars]] tables with name and source")
    result = []
    for i, item in enumerate(value):
        dotted = f"calendars[{i}]"
        if isinstance(item, str):
            item = {"source": item}
        if not isinstance(item, dict):
            raise r.error(dotted, "expected a table with name and source")
        r.unknown(item, {"name", "source"}, dotted)
        if "source" not in item:
            raise r.error(f"{dotted}.source", "missing; " + OPTIONS["calendars.source"])
        secret = r.secret(item["source"], "calendars.source", at=f"{dotted}.source")
        raw = item["source"].strip()
        is_url = bool(re.match(r"^(https?|webcal)://", raw, re.I))
        if secret.env:
            kind = "url"
            value_ = secret._value
            if value_ is not None and not re.match(r"^(https?|webcal)://", value_, re.I):
                kind = "file"
                secret = Secret(str((content_dir / value_).resolve()), env=secret.env,
                                field=secret.field, file=secret.file, line=secret.line)
        elif is_url:
            kind = "url"
        else:
            if "://" in raw:
                raise r.error("calendars.source",
                              "only http://, https:// and webcal:// URLs or file paths are read")
            kind = "file"
            # Where it is written, for "file not found" when the calendar is read.
            secret = Secret(str((content_dir / raw).resolve()), field="calendars.source",
                            file=r.file, line=r.line_of(f"{dotted}.source"))
        default_name = (Path(raw).name if kind == "file" and not secret.env
                        else f"calendar {i + 1}")
        name = r.string(item, "name", "calendars.name", default_name) or default_name
        result.append(CalendarSource(name=name, location=secret, kind=kind))
    return tuple(result)


def _availability(r: FieldReader, t: dict[str, Any]) -> Availability:
    r.unknown(t, {*WEEKDAYS, "dates", "closed"}, "availability")
    def hours(value: object, dotted: str) -> tuple[DayRange, ...]:
        try:
            return parse_hours(value, field="")
        except ConfigError as exc:  # again with the line of the mistake
            raise r.error(dotted, exc.reason) from None

    weekly = tuple(hours(t[day], f"availability.{day}") if day in t else () for day in WEEKDAYS)
    dates_t = r.table(t, "dates", "availability.dates")
    dates = []
    for key, value in dates_t.items():
        # A key with dots is quoted, as TOML writes it, so its line can be found.
        dotted = f'availability.dates."{key}"' if "." in key else f"availability.dates.{key}"
        if isinstance(value, dict):  # 31.12.2026 = [] without quotes: keys 31, 12, 2026
            raise r.error(dotted, f"{key!r} is not a date; write the date as a quoted "
                          'YYYY-MM-DD, e.g. "2026-12-24" = []')
        day = _date(r, key, dotted)
        dates.append((day, hours(value, dotted) if value else ()))
    closed_v = t.get("closed", [])
    if not isinstance(closed_v, list):
        raise r.error("availability.closed", OPTIONS["availability.closed"])
    closed = []
    for i, item in enumerate(closed_v):
        dotted = f"availability.closed[{i}]"
        if not isinstance(item, dict) or "from" not in item:
            raise r.error(dotted, "expected a table with from and until dates")
        r.unknown(item, {"from", "until", "reason"}, dotted)
        first = _date(r, item["from"], f"{dotted}.from")
        last = _date(r, item.get("until", item["from"]), f"{dotted}.until")
        if last < first:
            raise r.error(f"{dotted}.until", f"{last.isoformat()} is before the first closed "
                          f"day ({first.isoformat()}); until is the last closed day")
        closed.append((first, last))
    return Availability(weekly=weekly, dates=tuple(sorted(dates)), closed=tuple(sorted(closed)))


def _date(r: FieldReader, value: object, dotted: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    # 31.12.2026 or 31/12/2026, as many owners write a date: the exact fix.
    found = re.fullmatch(r"\s*(\d{1,2})[./](\d{1,2})[./](\d{4})\s*", value) if isinstance(
        value, str) else None
    if found:
        try:
            meant = date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
        except ValueError:
            meant = None
        if meant is not None:
            raise r.error(dotted, f'{value!r} is not a date; write YYYY-MM-DD: did you mean '
                          f'"{meant.isoformat()}"?')
    raise r.error(dotted, f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-24")


_ORIGIN_RE = re.compile(r"^https?://[^\s/?#@]+$")


def _origins(r: FieldReader, value: object) -> tuple[str, ...]:
    """booking.allowed_origins: scheme and host (and port) only, as browsers send Origin."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise r.error(
            "booking.allowed_origins", 'must be a list of addresses, e.g. ["https://www.example.org"]'
        )
    origins = []
    for item in value:
        origin = item.strip().rstrip("/").lower()
        if not _ORIGIN_RE.match(origin):
            raise r.error(
                "booking.allowed_origins",
                f"{item!r}: write scheme and host only, e.g. \"https://www.example.org\"",
            )
        origins.append(origin)
    return tuple(origins)


def _booking(r: FieldReader, t: dict[str, Any], env: Mapping[str, str]) -> BookingRules:
    r.unknown(t, {"notice", "horizon", "buffer_before", "buffer_after", "max_per_day",
                  "offers_per_day", "endpoint", "taken_endpoint", "who_calls", "require_phone",
                  "require_email", "rate_limit", "backend", "recheck_calendars",
                  "allowed_origins"}, "booking")
    horizon = r.duration(t, "horizon", "booking.horizon")
    if horizon <= timedelta(0):
        raise r.error("booking.horizon", "must be longer than zero, e.g. \"14d\"")
    if horizon > timedelta(days=366):
        raise r.error("booking.horizon", "must be at most a year (\"366d\")")
    notice = r.duration(t, "notice", "booking.notice")
    buffers = {key: r.duration(t, key, f"booking.{key}") for key in ("buffer_before",
                                                                      "buffer_after")}
    for key, buffer in buffers.items():
        if buffer > timedelta(days=1):
            raise r.error(f"booking.{key}", "must be at most a day (\"1d\")")
    rate = r.text(t, "rate_limit", "booking.rate_limit")
    try:
        parse_rate_limit(rate, file=r.file)
    except ConfigError:
        raise r.error("booking.rate_limit",
                      f"{rate!r} is not a rate limit; write e.g. \"5/10m\" or \"off\"") from None
    rules = BookingRules(
        notice=notice,
        horizon=horizon,
        buffer_before=buffers["buffer_before"],
        buffer_after=buffers["buffer_after"],
        max_per_day=r.integer(t, "max_per_day", "booking.max_per_day"),
        offers_per_day=r.integer(t, "offers_per_day", "booking.offers_per_day"),
        endpoint=r.text(t, "endpoint", "booking.endpoint"),
        taken_endpoint=r.text(t, "taken_endpoint", "booking.taken_endpoint"),
        who_calls=r.text(t, "who_calls", "booking.who_calls",
                         choices=("owner", "caller", "either")),
        require_phone=r.boolean(t, "require_phone", "booking.require_phone"),
        require_email=r.boolean(t, "require_email", "booking.require_email"),
        rate_limit=rate,
        backend=r.text(t, "backend", "booking.backend", choices=("handler", "netlify-forms")),
        recheck_calendars=r.boolean(t, "recheck_calendars", "booking.recheck_calendars"),
        allowed_origins=_origins(r, t.get("allowed_origins", [])),
    )
    if not rules.require_phone and not rules.require_email:
        # A call needs a way to reach the caller: at least one of the two.
        raise r.error("booking.require_email",
                      "require_phone and require_email are both false; a call needs at least one")
    return rules


_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def _call_types(r: FieldReader, value: object, language: str) -> tuple[CallType, ...]:
    if value is None:
        raise r.error("call_types", "missing; add at least one [[call_types]] with slug, title, "
                      "duration (e.g. \"30m\") and step")
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise r.error("call_types", "expected at least one [[call_types]] table")
    result: list[CallType] = []
    for i, item in enumerate(value):
        dotted = f"call_types[{i}]"
        if not isinstance(item, dict):
            raise r.error(dotted, "expected a table with slug, title, duration and step")
        r.unknown(item, {"slug", "title", "duration", "step", "description"}, dotted)
        slug = r.string(item, "slug", f"{dotted}.slug", required=True) or ""
        if not _SLUG_RE.match(slug):
            raise r.error(f"{dotted}.slug",
                          f"{slug!r}: use lowercase letters, digits and -, e.g. \"call-30\"")
        if any(c.slug == slug for c in result):
            raise r.error(f"{dotted}.slug", f"{slug!r} is used twice; slugs must be unique")
        title, titles = r.local_text(item, "title", f"{dotted}.title", language, required=True)
        if "duration" not in item:
            raise r.error(f"{dotted}.duration", "missing; write e.g. duration = \"30m\"")
        duration = r.duration(item, "duration", f"{dotted}.duration")
        if duration < timedelta(minutes=1) or duration > timedelta(hours=12):
            raise r.error(f"{dotted}.duration", "must be between 1m and 12h")
        step = r.duration(item, "step", f"{dotted}.step", item["duration"])
        if step < timedelta(minutes=5):
            raise r.error(f"{dotted}.step", "must be at least 5m")
        description, descriptions = r.local_text(
            item, "description", f"{dotted}.description", language)
        result.append(CallType(slug=slug, title=title, duration=duration, step=step,
                               description=description, titles=titles,
                               descriptions=descriptions))
    return tuple(result)


def _site(r: FieldReader, t: dict[str, Any], owner: Owner) -> SiteOptions:
    r.unknown(t, {"title", "description", "base_url", "theme", "intro", "robots_index",
                  "allow_framing", "languages", "imprint", "privacy_policy"}, "site")
    base_url = r.text(t, "base_url", "site.base_url")
    if base_url and not re.match(r"^https?://[^\s/]+", base_url):
        raise r.error("site.base_url", f"{base_url!r}: write a full address such as "
                      "\"https://call.example.org\"")
    # An empty title: the theme's catalog names the page in each of its languages.
    title, titles = r.local_text(t, "title", "site.title", owner.language)
    description, descriptions = r.local_text(t, "description", "site.description",
                                             owner.language)
    return SiteOptions(
        title=title,
        description=description,
        titles=titles,
        descriptions=descriptions,
        base_url=base_url.rstrip("/"),
        theme=r.text(t, "theme", "site.theme"),
        intro=r.text(t, "intro", "site.intro"),
        robots_index=r.boolean(t, "robots_index", "site.robots_index"),
        allow_framing=r.boolean(t, "allow_framing", "site.allow_framing"),
        languages=_site_languages(r, t),
        imprint=_legal(r, t, "imprint"),
        privacy_policy=_legal(r, t, "privacy_policy"),
    )


def _legal(r: FieldReader, t: dict[str, Any], key: str) -> str:
    """A legal page: an http(s) URL as it is, or a Markdown file in content/ that must exist."""
    value = r.text(t, key, f"site.{key}")
    if not value or re.match(r"^https?://[^\s/]+", value):
        return value
    if "://" in value or value.startswith(("mailto:", "javascript:")):
        raise r.error(f"site.{key}", f"{value!r}: write an https:// address or the name of a "
                      "Markdown file in content/")
    if not value.endswith(".md"):
        raise r.error(f"site.{key}", f"{value!r}: write an https:// address or a Markdown file "
                      "in content/ ending in .md")
    if not (Path(r.file).parent / value).is_file():
        raise r.error(f"site.{key}", f"the Markdown file {value!r} is not in content/; create it "
                      "or write the address of your page")
    return value


def _site_languages(r: FieldReader, t: dict[str, Any]) -> tuple[str, ...]:
    if "languages" not in t:
        return ()
    value = t["languages"]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise r.error("site.languages", "expected a list of language codes, e.g. "
                      "[\"de\", \"en\"]")
    known = ", ".join(f"\"{code}\"" for code in LANGUAGES)
    seen: list[str] = []
    for code in value:
        code = code.strip()
        if code not in LANGUAGES:
            from generator.config.suggest import language_hint

            raise r.error("site.languages", f"{code!r} is not a language callslot speaks"
                          f"{language_hint(code, LANGUAGES)}; choose from {known}")
        if code in seen:
            raise r.error("site.languages", f"{code!r} is listed twice")
        seen.append(code)
    return tuple(seen)


def unknown_call_type(settings: Settings, slug: str) -> str:
    """What to say when ``slug`` names no call type: the likely one, and all of them."""
    from generator.config.suggest import did_you_mean

    slugs = [c.slug for c in settings.call_types]
    return f"{slug!r} is not a call type{did_you_mean(slug, slugs)}; known: {', '.join(slugs)}"


# The parser's words (tomllib) -> ours, with the fix; the line is said by the prefix.
_TOML_PROBLEMS = (
    ("Unterminated string", "a text is missing its closing quote"),
    ('Expected "\'"', "a text is missing its closing quote"),
    ("Invalid value", 'a value TOML does not know: write a text in quotes ("..."), a number, '
                      "true or false, or a list [...]"),
    ("Expected '=' after a key", 'a key without "=" and a value; write e.g. name = "Anna"'),
    ("Cannot overwrite a value", "this key is set twice in one table; keep one of them"),
    ("Cannot declare", "this table is written twice; put its settings under one [...] heading"),
    ("Unclosed array", "a list [...] is missing its closing ]"),
    ("Unclosed inline table", "a table {...} is missing its closing }"),
    ("Expected ']' at the end of a table", "a table heading is missing its closing ]"),
    ("Expected newline or end of document", "more follows a value than TOML allows: write "
                                            'texts, times and durations in quotes ("09:00", '
                                            '"4h"), one setting per line'),
)


def _toml_problem(message: str, text: str, line: int | None) -> str:
    """What is wrong in the TOML, in our words: "a text is missing its closing quote"."""
    if message.startswith("Illegal character"):
        written = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
        before = written.split("#", 1)[0]
        if before.count('"') % 2 or before.count("'") % 2:
            return "a text is missing its closing quote"
        return "a character TOML does not allow here; texts go in quotes (\"...\")"
    for start, ours in _TOML_PROBLEMS:
        if message.startswith(start):
            return ours
    return re.sub(r"\s*\((at line \d+, column \d+|at end of document)\)$", "", message)


def setting_error(settings: Settings, dotted: str, message: str) -> ConfigError:
    """A ConfigError about option ``dotted`` found after loading (a file it names is
    missing): with site.toml's path and the line where the option is written."""
    if settings.path is None:
        return ConfigError(message, field=dotted)
    try:
        text = settings.path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return ConfigError(message, file=str(settings.path), field=dotted)
    return FieldReader({}, str(settings.path), text, {}).error(dotted, message)


def check_settings(settings: Settings) -> list[str]:
    """Problems that do not stop a build but that the owner should know of."""
    problems = []
    if not settings.calendars:
        problems.append("no calendars configured: every slot in the opening hours is offered")
    if settings.booking.notice >= settings.booking.horizon:
        problems.append("booking.notice is not shorter than booking.horizon: no slot can be "
                        "offered; shorten the notice or lengthen the horizon")
    if not any(settings.availability.weekly):
        problems.append("availability has no open weekday: only special dates offer slots")
    for source in settings.calendars:
        # site.toml is often committed or shared; a login written into it travels along.
        if source.kind == "url" and not source.location.env and "@" in _netloc(source.url()):
            problems.append(f"calendar {source.name!r}: its address in site.toml holds a login; "
                            "move the address into an environment variable and write "
                            "source = \"env:NAME\"")
    return problems


def _netloc(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc
