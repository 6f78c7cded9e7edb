"""What the booking handler says: refusals and booking pages as view data, in the page's language.

The handler decides *what* happened (a code such as "slot_taken", a booking);
this module turns it into words and facts for ``message.html`` or a JSON
error. Message ids are English; the theme's gettext catalogs translate them
(themes/default/locale/de/...), so a site theme can reword every answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from generator.config.settings import Settings
from generator.domain import Booking
from generator.i18n import N_
from generator.web.form import LIMITS, FieldProblem

__all__ = [
    "CONSENT_TEXT",
    "ERRORS",
    "Page",
    "Translate",
    "booking_details",
    "error_page",
    "field_message",
]

# (message id, language) -> translated text
Translate = Callable[[str, str], str]

# code -> (HTTP status, heading, lead). Every refusal records nothing, and says so.
ERRORS: dict[str, tuple[int, str, str]] = {
    "forged_slot": (
        400,
        N_("This time cannot be booked"),
        N_(
            "The link to this time is damaged or was not made by this booking page. "
            "Nothing was booked; please choose a time on the booking page again."
        ),
    ),
    "slot_past": (
        410,
        N_("This time has passed"),
        N_("The chosen time is over. Nothing was booked; please choose a later time."),
    ),
    "too_soon": (
        410,
        N_("This time is too soon"),
        N_(
            "There is not enough time left to prepare this call. Nothing was booked; "
            "please choose a later time."
        ),
    ),
    "slot_unavailable": (
        409,
        N_("This time can no longer be booked"),
        N_(
            "The booking page has changed since you opened it. Nothing was "
            "booked; please choose a time on the booking page again."
        ),
    ),
    "slot_taken": (
        409,
        N_("This time was just booked"),
        N_(
            "Someone else was quicker, or the time is no longer free. Nothing was "
            "booked for you; please choose another time."
        ),
    ),
    "day_full": (
        409,
        N_("This day is fully booked"),
        N_("No more calls fit on this day. Nothing was booked; please choose another day."),
    ),
    "invalid_fields": (
        400,
        N_("Please check your details"),
        N_("Nothing was booked yet. Go back, correct the fields below and send the form again."),
    ),
    "spam": (
        400,
        N_("The booking could not be processed"),
        N_("Nothing was booked. Please send the form again from the booking page."),
    ),
    "rate_limited": (
        429,
        N_("Too many attempts"),
        N_("Nothing was booked. Please wait a few minutes and try again."),
    ),
    "too_large": (
        413,
        N_("The form is too large"),
        N_("Nothing was booked. Please shorten your note and send the form again."),
    ),
    "unsupported_type": (
        415,
        N_("The form could not be read"),
        N_("Nothing was booked. Please send the form from the booking page."),
    ),
    "bad_request": (
        400,
        N_("The form could not be read"),
        N_("Nothing was booked. Please send the form from the booking page."),
    ),
    "calendar_unavailable": (
        503,
        N_("Booking is not possible right now"),
        N_(
            "The calendar could not be checked, so nothing was booked. "
            "Please try again in a few minutes."
        ),
    ),
    "unavailable": (
        503,
        N_("Booking is not possible right now"),
        N_(
            "The booking service has a problem; nothing was booked. "
            "Please try again in a few minutes."
        ),
    ),
    "unknown_token": (
        404,
        N_("Booking not found"),
        N_("This link does not belong to a booking. Please check that you copied the whole link."),
    ),
    "too_late": (
        409,
        N_("The call cannot be cancelled any more"),
        N_("Its time has already begun. Please contact the other person directly."),
    ),
    "move_cancelled": (
        409,
        N_("This call is cancelled"),
        N_("The time is free again. You can book a new time on the booking page."),
    ),
    "move_too_late": (
        409,
        N_("The call cannot be moved any more"),
        N_("Its time has already begun. Please contact the other person directly."),
    ),
    "move_no_time": (
        400,
        N_("Please choose a time"),
        N_("Nothing was changed. Go back and choose the new time for your call."),
    ),
    "not_found": (404, N_("Page not found"), N_("There is nothing at this address.")),
    "method_not_allowed": (
        405,
        N_("Not allowed"),
        N_("This address does not answer this request."),
    ),
    "forbidden": (403, N_("Not allowed"), N_("The key in this address is wrong.")),
    "cross_site": (
        403,
        N_("This form did not come from the booking page"),
        N_("Nothing was booked or changed. Please use the booking page itself."),
    ),
    "link_expired": (
        410,
        N_("This link has expired"),
        N_("The call is over, and its page is no longer kept."),
    ),
}

_FIELD_LABELS = {
    "name": N_("Name"),
    "phone": N_("Phone"),
    "email": N_("Email"),
    "topic": N_("Topic"),
    "note": N_("Note"),
    "slot": N_("Time"),
    "who_calls": N_("Who calls"),
    "consent": N_("Consent"),
}
_FIELD_TEXT = {
    "missing": N_("Please fill in this field."),
    "too_long": N_("Too long: at most %(max)d characters."),
    "control": N_("Contains characters that are not allowed here, such as line breaks."),
    "invalid": N_("Not valid."),
    "undialable": N_("Not valid."),
}
_SPECIAL = {
    ("slot", "missing"): N_("Please choose a time."),
    ("phone", "invalid"): N_("Use digits, spaces and + ( ) - / . only, 5 to 30 characters."),
    ("phone", "undialable"): N_(
        "This number cannot be dialled. Please check it; write a number "
        "from another country with + and its country code."
    ),
    ("email", "invalid"): N_("This is not an email address."),
    ("who_calls", "invalid"): N_("Please choose who calls whom."),
    ("consent", "missing"): N_(
        "Please tick the box: without your consent the call cannot be booked."
    ),
}
# The consent box's label, as page.html writes it; stored with the booking in the
# caller's language, so the owner can show what exactly was agreed to.
CONSENT_TEXT = N_(
    "I agree that my details (name, phone number, email, topic, note) are stored to "
    "arrange and prepare this call."
)


@dataclass(frozen=True)
class Page:
    """View data for ``message.html`` (see the template's header for each field)."""

    title: str
    heading: str
    lead: str = ""
    details: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    form: dict[str, Any] | None = None
    status: str = "ok"
    language: str = "de"
    extra: dict[str, Any] = field(default_factory=dict)
    # "Add to calendar" on the booked page: (label, href) for the .ics, Google and Outlook.
    calendar: tuple[tuple[str, str], ...] = ()
    # After a refused time: one-button forms that book another time with the details the
    # caller just sent (each: action, hidden [(name, value)], button).
    rebook: tuple[dict[str, Any], ...] = ()
    rebook_zone: str = ""  # the zone those buttons write times in, named for people


def field_message(problem: FieldProblem, lang: str, t: Translate) -> str:
    """One field's problem as a sentence: "Topic: Please fill in this field."."""
    text = _SPECIAL.get((problem.field, problem.code)) or _FIELD_TEXT[problem.code]
    text = t(text, lang)
    if "%(max)d" in text:
        text = text % {"max": LIMITS.get(problem.field, (0, 0))[1]}
    return text


def error_page(
    code: str, lang: str, t: Translate, *, back: str, problems: Sequence[FieldProblem] = ()
) -> Page:
    _status, heading, lead = ERRORS[code]
    details = tuple(
        (t(_FIELD_LABELS.get(p.field, p.field), lang), field_message(p, lang, t)) for p in problems
    )
    return Page(
        title=t(heading, lang),
        heading=t(heading, lang),
        lead=t(lead, lang),
        details=details,
        links=((t(N_("Back to the open times"), lang), back),),
        status="error",
        language=lang,
    )


def _span(booking: Booking, tz: ZoneInfo, lang: str) -> str:
    from generator.i18n import day_label, short_time, zone_label

    start, end = booking.start.astimezone(tz), booking.end.astimezone(tz)
    return (
        f"{day_label(start.date(), lang)}, {short_time(start, tz, lang)}–"
        f"{short_time(end, tz, lang)} ({zone_label(str(tz.key), lang)})"
    )


def booking_details(
    settings: Settings, booking: Booking, lang: str, t: Translate
) -> tuple[tuple[str, str], ...]:
    """The facts of a booking as the caller reads them, times in the owner's zone (and theirs)."""
    from generator.notify.invite import who_calls_line

    # The caller's own clock first when it differs from the owner's; the owner's time
    # then follows, named as theirs, so both sides talk about the same moment.
    rows = [(t(N_("When"), lang), _span(booking, settings.tz, lang))]
    if booking.caller_timezone and booking.caller_timezone != settings.owner.timezone:
        caller_tz = ZoneInfo(booking.caller_timezone)
        if (
            booking.start.astimezone(caller_tz).utcoffset()
            != booking.start.astimezone(settings.tz).utcoffset()
        ):
            rows = [
                (t(N_("When"), lang), _span(booking, caller_tz, lang)),
                (
                    t(N_("Time for %(name)s"), lang) % {"name": settings.owner.name},
                    _span(booking, settings.tz, lang),
                ),
            ]
    call = settings.call_type(booking.call_type)
    rows.append((t(N_("Call"), lang), call.title_in(lang) if call else booking.call_type))
    rows.append((t(N_("Topic"), lang), booking.topic))
    rows.append((t(N_("Who calls"), lang), who_calls_line(settings, booking, lang)))
    rows.append((t(N_("Name"), lang), booking.name))
    if booking.phone:
        from generator.phone import default_region, display_number

        rows.append(
            (t(N_("Phone"), lang), display_number(booking.phone, default_region(settings.owner)))
        )
    if booking.email:
        rows.append((t(N_("Email"), lang), booking.email))
    if booking.note:
        rows.append((t(N_("Note"), lang), booking.note))
    if booking.status == "cancelled":
        rows.append((t(N_("Status"), lang), t(N_("cancelled"), lang)))
    return tuple(rows)
