"""Slots and settings -> view data: what templates show, already formatted.

Templates receive these frozen dataclasses (labels, formatted dates, URLs,
field flags), never raw settings, and hold no logic beyond loops and fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from markupsafe import Markup

from generator.config.settings import CallType, Settings
from generator.domain import Slot
from generator.i18n import (
    clock_templates,
    day_label,
    duration_label,
    language_name,
    og_locale,
    short_day_label,
    short_time,
    zone_abbreviation,
    zone_label,
)
from generator.signing import slot_id, slot_token

if TYPE_CHECKING:
    from generator.page.theme import Theme

__all__ = [
    "VISIBLE_DAYS",
    "CallTypeLink",
    "DayView",
    "FormView",
    "LanguageLink",
    "LegalLink",
    "PageView",
    "ProfileView",
    "SiteView",
    "SlotView",
    "iso_utc",
    "language_folder",
    "message_path",
    "page_filename",
    "page_path",
    "page_view",
    "site_languages",
    "site_title",
    "site_view",
]


def iso_utc(moment: datetime) -> str:
    """UTC time as ISO 8601 with a Z: "2026-11-30T08:00:00Z" (what the script parses)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_languages(settings: Settings) -> tuple[str, ...]:
    """The languages the page is built in, the one at the root first."""
    return settings.site.languages or (settings.owner.language,)


def language_folder(settings: Settings, language: str | None) -> str:
    """Where a language's pages live: "" for the first language (the root), else "en/"."""
    languages = site_languages(settings)
    if language is None or language == languages[0] or language not in languages:
        return ""
    return f"{language}/"


def page_filename(settings: Settings, call_type: str, language: str | None = None) -> str:
    """The file of a call type's page: the first is index.html, others <slug>.html; pages
    in a further language of site.languages sit in its folder ("en/index.html")."""
    name = "index.html" if call_type == settings.call_types[0].slug else f"{call_type}.html"
    return language_folder(settings, language) + name


def page_path(settings: Settings, call_type: str, language: str | None = None) -> str:
    """The page's path on the site: "/", "/beratung.html", "/en/" or "/en/beratung.html"."""
    name = page_filename(settings, call_type, language)
    return "/" + (name[: -len("index.html")] if name.endswith("index.html") else name)


def message_path(settings: Settings, name: str, language: str | None = None) -> str:
    """A static answer page (thanks.html, error.html) in ``language``'s folder."""
    return "/" + language_folder(settings, language) + name


# Days shown open on the page; later days sit behind a "more days" disclosure, so the
# form stays near the first times and no caller scrolls through two weeks to reach it.
VISIBLE_DAYS = 5


@dataclass(frozen=True)
class LegalLink:
    """A footer link the law asks of business pages (Impressum, Datenschutz)."""

    kind: str  # "imprint" or "privacy": templates pick the label in the page's language
    href: str  # the owner's URL, or the path of the page built from their Markdown


@dataclass(frozen=True)
class SiteView:
    """What every page (also the handler's) shows of the site."""

    title: str
    description: str
    owner_name: str
    language: str
    base_url: str
    robots: str  # content of <meta name="robots">, "" when indexing is allowed
    home: str  # path of the first booking page
    legal: tuple[LegalLink, ...] = ()

    @property
    def privacy_href(self) -> str:
        """The privacy notice, linked again beside the form's privacy sentence."""
        return next((link.href for link in self.legal if link.kind == "privacy"), "")


def legal_links(settings: Settings) -> tuple[LegalLink, ...]:
    """The Impressum and Datenschutz links, in that order, for those the owner set."""
    from generator.page.legal import legal_href

    links = []
    for kind in ("imprint", "privacy"):
        href = legal_href(settings, kind)
        if href:
            links.append(LegalLink(kind=kind, href=href))
    return tuple(links)


def site_title(settings: Settings, theme: Theme, language: str) -> str:
    """site.title, or the page's name in ``language``: "Anna: Rückruf vereinbaren"."""
    own = settings.site.title_in(language)
    if own:
        return own
    return theme.gettext("%(name)s: schedule a call", language, name=settings.owner.name)


def site_view(settings: Settings, theme: Theme, language: str | None = None) -> SiteView:
    """What every page in ``language`` (default: the owner's) shows of the site."""
    language = language or settings.owner.language
    return SiteView(
        title=site_title(settings, theme, language),
        description=settings.site.description_in(language),
        owner_name=settings.owner.name,
        language=language,
        base_url=settings.site.base_url,
        robots="" if settings.site.robots_index else "noindex, nofollow",
        home=page_path(settings, settings.call_types[0].slug),
        legal=legal_links(settings),
    )


@dataclass(frozen=True)
class SlotView:
    id: str  # slot_id: the radio's id, and ?slot= in links
    token: str  # signed token: the radio's value, verified by the handler
    start: str  # UTC ISO, for the script
    end: str
    label: str  # owner's local start time, "9:00" (French "9 h")
    end_label: str  # "9:30"


@dataclass(frozen=True)
class DayView:
    legend: str  # "Montag, 30. November"
    slots: tuple[SlotView, ...]
    short: str = ""  # "Mo., 30. Nov.": the "more days" disclosure names its last day so


@dataclass(frozen=True)
class CallTypeLink:
    label: str
    href: str
    current: bool


@dataclass(frozen=True)
class FormView:
    action: str
    method: str
    attrs: tuple[tuple[str, str], ...]  # extra form attributes (Netlify Forms)
    hidden: tuple[tuple[str, str], ...]  # hidden fields, in order
    who_calls_choice: bool  # show the radios "who calls whom"
    require_phone: bool
    require_email: bool
    taken_url: str  # GET JSON of taken intervals, for the script
    timezone: str  # owner's IANA zone, for the script
    call_title: str = ""  # the call type, in the picked-time summary beside the button
    locale: str = ""  # BCP 47 locale of the page ("en-GB"): the script formats times with it
    # How the page writes a time, for the script: "{h}:{mm}" on the hour and past it
    # (French "{h} h", "{h} h {mm}"), as i18n.short_time does.
    clock: tuple[str, str] = ("{h}:{mm}", "{h}:{mm}")
    # booking.buffer_before/after in seconds: the script greys out a slot that a taken
    # call comes this close to, as the handler would refuse it.
    buffer_before: int = 0
    buffer_after: int = 0
    require_consent: bool = False  # a required consent box before the button


@dataclass(frozen=True)
class LanguageLink:
    """One entry of the language switcher, and the page's hreflang alternate."""

    lang: str  # "pl"
    label: str  # the language's own name: "Polski"
    href: str  # the same call type's page in that language (absolute with site.base_url)
    current: bool


@dataclass(frozen=True)
class PageView:
    lang: str
    path: str  # "/" or "/beratung.html"
    title: str  # <title> and og:title
    description: str
    url: str  # absolute URL for og:url ("" without site.base_url)
    og_locale: str
    heading: str  # call type title
    lead: str  # call type description
    intro: Markup  # the owner's Markdown, rendered
    zone: str  # "Mitteleuropäische Zeit"
    days: tuple[DayView, ...]  # shown open
    slot_count: int
    nav: tuple[CallTypeLink, ...]
    form: FormView
    # Every language of site.languages (empty with one language); the first is x-default.
    languages: tuple[LanguageLink, ...] = ()
    more_days: tuple[DayView, ...] = ()  # behind the "more days" disclosure
    profile: ProfileView | None = None
    keep: str = ""  # how long a call's details are kept after it: "90 Tage"; "" right after


@dataclass(frozen=True)
class ProfileView:
    """Who the caller is about to book: photo, role and organisation (each optional)."""

    photo: str  # data: URI of the resized photo, "" for none
    role: str  # "Steuerberaterin · Beispiel & Partner", "" for none


def _days(
    settings: Settings, slots: Sequence[Slot], secret: bytes, language: str
) -> tuple[DayView, ...]:
    tz = settings.tz
    by_day: dict[date, list[SlotView]] = {}
    for slot in sorted(slots):
        local_day = slot.start.astimezone(tz).date()
        by_day.setdefault(local_day, []).append(
            SlotView(
                id=slot_id(slot),
                token=slot_token(secret, slot),
                start=iso_utc(slot.start),
                end=iso_utc(slot.end),
                label=short_time(slot.start, tz, language),
                end_label=short_time(slot.end, tz, language),
            )
        )
    return tuple(
        DayView(
            legend=day_label(day, language),
            slots=tuple(_told_apart(views, tz, language)),
            short=short_day_label(day, language),
        )
        for day, views in sorted(by_day.items())
    )


def _told_apart(views: list[SlotView], tz: tzinfo, language: str) -> list[SlotView]:
    """On the night the clocks go back a wall time comes twice ("2:00", "2:00"): each of
    those labels names its zone's short name ("2:00 MESZ", "2:00 MEZ"), so a caller (and
    a screen reader) can tell which one is picked. Other labels stay as they are."""
    seen: dict[str, int] = {}
    for view in views:
        seen[view.label] = seen.get(view.label, 0) + 1
    if all(count == 1 for count in seen.values()):
        return views
    return [
        replace(
            view,
            label=f"{view.label} "
            + zone_abbreviation(datetime.fromisoformat(view.start), tz, language),
        )
        if seen[view.label] > 1
        else view
        for view in views
    ]


def _form(settings: Settings, call_type: CallType, language: str) -> FormView:
    booking = settings.booking
    netlify = booking.backend == "netlify-forms"
    hidden: list[tuple[str, str]] = []
    attrs: tuple[tuple[str, str], ...] = ()
    if netlify:
        # Netlify Forms finds the form by name at deploy time and stores submissions.
        attrs = (("name", "booking"), ("data-netlify", "true"), ("netlify-honeypot", "website"))
        hidden.append(("form-name", "booking"))
    if booking.who_calls != "either":
        hidden.append(("who_calls", booking.who_calls))
    hidden += [
        ("tz", ""),  # the script fills in the caller's IANA zone
        ("idem", ""),  # the script fills in a random idempotency key
        ("lang", language),
        ("call_type", call_type.slug),
        ("back", page_path(settings, call_type.slug, language)),
    ]
    return FormView(
        action=message_path(settings, "thanks.html", language) if netlify else booking.endpoint,
        method="post",
        attrs=attrs,
        hidden=tuple(hidden),
        who_calls_choice=booking.who_calls == "either",
        require_phone=booking.require_phone,
        require_email=booking.require_email,
        taken_url="" if netlify else booking.taken_endpoint,
        timezone=settings.owner.timezone,
        call_title=call_type.title_in(language),
        locale=og_locale(language).replace("_", "-"),
        clock=clock_templates(language),
        buffer_before=int(booking.buffer_before.total_seconds()),
        buffer_after=int(booking.buffer_after.total_seconds()),
        require_consent=settings.privacy.require_consent,
    )


def page_view(
    settings: Settings,
    call_type: CallType,
    slots: Sequence[Slot],
    *,
    secret: bytes,
    intro: Markup,
    theme: Theme,
    language: str | None = None,
    photo: str = "",
) -> PageView:
    """Everything the booking page of one call type shows."""
    language = language or site_languages(settings)[0]
    path = page_path(settings, call_type.slug, language)
    days = _days(settings, [s for s in slots if s.call_type == call_type.slug], secret, language)
    title = site_title(settings, theme, language)
    if call_type != settings.call_types[0]:
        title = f"{call_type.title_in(language)} – {title}"
    base = settings.site.base_url
    return PageView(
        lang=language,
        path=path,
        title=title,
        description=settings.site.description_in(language) or call_type.description_in(language),
        url=f"{base}{path}" if base else "",
        og_locale=og_locale(language),
        heading=call_type.title_in(language),
        lead=call_type.description_in(language),
        intro=intro,
        zone=zone_label(settings.owner.timezone, language),
        days=days[:VISIBLE_DAYS],
        more_days=days[VISIBLE_DAYS:],
        slot_count=sum(len(d.slots) for d in days),
        nav=tuple(
            CallTypeLink(
                label=c.title_in(language),
                href=page_path(settings, c.slug, language),
                current=c.slug == call_type.slug,
            )
            for c in settings.call_types
        )
        if len(settings.call_types) > 1
        else (),
        form=_form(settings, call_type, language),
        profile=_profile(settings, photo),
        keep=_keep(settings, language),
        languages=_language_links(settings, call_type, language),
    )


def _language_links(
    settings: Settings, call_type: CallType, language: str
) -> tuple[LanguageLink, ...]:
    languages = site_languages(settings)
    if len(languages) < 2:
        return ()
    base = settings.site.base_url
    return tuple(
        LanguageLink(
            lang=code,
            label=language_name(code),
            href=f"{base}{page_path(settings, call_type.slug, code)}",
            current=code == language,
        )
        for code in languages
    )


def _profile(settings: Settings, photo: str) -> ProfileView | None:
    owner = settings.owner
    role = " · ".join(part for part in (owner.role, owner.organisation) if part)
    if not (photo or role):
        return None
    return ProfileView(photo=photo, role=role)


def _keep(settings: Settings, language: str) -> str:
    """How long details are kept after the call, in words ("90 Tage"); "" for right after."""
    # [privacy] keep counts from the end of the call; a part of a day still counts as one.
    keep = settings.privacy.keep
    days = keep.days + (1 if keep - timedelta(days=keep.days) else 0)
    return duration_label(days, language) if days > 0 else ""
