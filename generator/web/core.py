"""The booking API's core: (request data, now, context) -> a response, with no HTTP in it.

    POST     /api/book           form-encoded or JSON; 303 to the booking page, or 201 JSON
    GET      /api/booking?token= the booking's page (thanks page, status, cancel link)
    GET      /api/booking.ics?token=  the booked call as a calendar file ("Add to calendar")
    GET|POST /api/cancel?token=  confirm, then cancel (the slot becomes free again)
    GET|POST /api/move?token=    the open times of the call's type, then move it (web/move.py)
    GET      /api/taken          future booked intervals, nothing personal
    GET      /api/health         {"ok": true} when the store answers
    GET      /api/bookings.ics?key=  the owner's private feed

:func:`handle` decides every answer; generator.handler turns HTTP into an
:class:`ApiRequest` and an :class:`ApiResponse` back into HTTP (Werkzeug), so
these rules are tested and read without a server. The clock comes in as
``now``; the store, the key, the texts and the calendar re-check come in the
:class:`Context`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from generator.config.settings import Settings
from generator.domain import Booking
from generator.errors import CalendarError
from generator.i18n import N_
from generator.store.base import DayFull, SlotTaken, Store, day_limits
from generator.web.answers import (
    CONSENT_TEXT,
    ERRORS,
    Page,
    Translate,
    booking_details,
    error_page,
    field_message,
)
from generator.web.form import (
    BookingForm,
    FieldProblem,
    answer_language,
    idempotency_key,
    parse_form,
    safe_back,
)
from generator.web.guards import PROOF_RE, link_expired, retry_seconds, same_site
from generator.web.guards import rate_key as keyed_rate_key

if TYPE_CHECKING:
    from generator.domain import Busy, Slot

__all__ = [
    "FEED_RATE_LIMIT",
    "ROUTES",
    "ApiRequest",
    "ApiResponse",
    "Context",
    "handle",
    "hash_token",
    "new_booking_id",
    "refusal",
]

log = logging.getLogger("callslot.handler")

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_FEED_WINDOW = timedelta(days=30)  # past calls the owner's feed still shows
# Requests per client to the owner's feed: apps poll every few minutes at most.
FEED_RATE_LIMIT = (60, timedelta(hours=1))


@dataclass(frozen=True)
class ApiRequest:
    """What the core needs of an HTTP request, already decoded."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)  # body: form or JSON object
    wants_json: bool = False
    client: str = ""  # the caller's address, for the rate limit
    # Where a browser says the request comes from: the Origin header, else the Referer's
    # scheme://host; "" when neither was sent (not a browser, or one that sends none).
    origin: str = ""
    host: str = ""  # the Host the request was sent to (scheme-less, with the port)
    referer: str = ""  # the path of a same-site Referer ("/pl/"), else ""
    accept_language: str = ""  # the Accept-Language header as sent


@dataclass(frozen=True)
class ApiResponse:
    status: int
    data: Any = None  # a JSON answer
    page: Page | None = None  # an HTML answer
    location: str | None = None
    body: bytes | None = None
    content_type: str = ""
    filename: str = ""  # a download's name (Content-Disposition: attachment)
    cache: str = "no-store"  # personal by default; only /api/taken is cacheable
    allow: tuple[str, ...] = ()
    retry_after: int | None = None  # seconds, with a 429


@dataclass
class Context:
    """Everything the core works with besides the request and the clock."""

    settings: Settings
    store: Store
    secret: bytes
    translate: Translate
    rate_limit: tuple[int, timedelta] | None = None
    feed_rate_limit: tuple[int, timedelta] | None = None
    feed_key: str | None = None
    # Busy time of the owner's calendars around a slot; raises CalendarError. None: no re-check.
    calendar_busy: Callable[[Slot], list[Busy]] | None = None
    # Called after a booking or cancellation commits (notifications); must not raise.
    after_commit: Callable[[str, datetime], None] = lambda booking_id, now: None
    notify_channels: Callable[[str], list[str]] = lambda event: []
    # (start, now) -> the (channel, due) reminder rows of a call at ``start``.
    reminders: Callable[[datetime, datetime], list[tuple[str, datetime]]] = (
        lambda start, now: []
    )
    # The latest build's slots (web/offered.py); None: the move page offers no times.
    offered_slots: Callable[[], list[Slot]] | None = None


def new_booking_id() -> str:
    """A short random booking id that never starts with "-": `callslot bookings cancel ID`
    read such an id as an option and refused it ("No such option '-b'")."""
    while True:
        value = secrets.token_urlsafe(9)
        if not value.startswith("-"):
            return value


def hash_token(token: str) -> str:
    """Cancel tokens are stored only as this hash: a leaked database cannot cancel calls."""
    return hashlib.sha256(token.encode()).hexdigest()


def _cancel_token(secret: bytes, booking_id: str) -> str:
    from generator.signing import cancel_token

    return cancel_token(secret, booking_id)


def _move_token(secret: bytes, booking_id: str) -> str:
    from generator.signing import move_token

    return move_token(secret, booking_id)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------
# The core


def _language(value: str | None, ctx: Context) -> str:
    return answer_language(value, ctx.settings)


def _home(ctx: Context, lang: str | None = None) -> str:
    """Where "back to the open times" leads when the form did not say: the first page in
    ``lang`` ("/" for the site's first language, "/pl/" for a further one)."""
    from generator.page.viewdata import language_folder

    return "/" + language_folder(ctx.settings, lang)


def page_language(req: ApiRequest, ctx: Context) -> str:
    """The language of an answer that carries no booking: the posted or asked ``lang``,
    else the language folder of the path ("/pl/nope.html") or of the page the request
    came from (Referer), else the browser's Accept-Language among the site's languages."""
    from generator.page.viewdata import site_languages

    asked = req.fields.get("lang") or req.query.get("lang")
    if asked:
        return _language(asked, ctx)
    languages = site_languages(ctx.settings)
    came_from = req.referer if same_site(req.origin, req.host, ctx.settings) else ""
    for path in (req.path, came_from):
        first = path.lstrip("/").split("/", 1)
        if len(first) == 2 and first[0] in languages:
            return first[0]
    if came_from and not came_from.startswith("/api/"):
        return languages[0]  # a page at the root: the site's first language
    return _language(_accepted(req.accept_language, languages), ctx)


def _accepted(header: str, languages: Sequence[str]) -> str | None:
    """The first of ``languages`` the Accept-Language header asks for, by its q values."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().lower().split("-")[0]
        if q > 0 and code in languages:
            ranked.append((-q, index, code))
    return min(ranked)[2] if ranked else None


def refusal(
    code: str,
    req: ApiRequest,
    ctx: Context,
    *,
    lang: str | None = None,
    back: str | None = None,
    problems: Iterable[FieldProblem] = (),
    alternatives: Sequence[Any] = (),
) -> ApiResponse:
    """The answer to a refused request: an error page, or JSON {error, message[, fields]}.

    ``alternatives`` (:class:`~generator.web.alternatives.Choice`) are other times the
    caller can book in one click with the details of this request (JSON: "alternatives").
    """
    lang = lang or page_language(req, ctx)
    status = ERRORS[code][0]
    problems = list(problems)
    allow = ROUTES.get(req.path, ()) if code == "method_not_allowed" else ()
    if req.wants_json:
        data: dict[str, Any] = {"error": code, "message": ctx.translate(ERRORS[code][2], lang)}
        if problems:
            data["fields"] = [
                {"field": p.field, "code": p.code, "message": field_message(p, lang, ctx.translate)}
                for p in problems
            ]
        if alternatives:
            from generator.web.alternatives import choices_json

            data["alternatives"] = choices_json(alternatives)
        return ApiResponse(status, data=data, allow=allow)
    page = error_page(code, lang, ctx.translate, back=back or _home(ctx, lang), problems=problems)
    if alternatives:
        from generator.i18n import zone_label
        from generator.web.alternatives import choice_forms, choice_zone

        call_type = alternatives[0].slot.call_type
        zone = choice_zone(ctx.settings, req.fields)
        page = dataclasses.replace(
            page,
            rebook=choice_forms(req.path, alternatives, req.fields, call_type),
            rebook_zone=zone_label(str(zone.key), lang),
        )
    return ApiResponse(status, page=page, allow=allow)


def _day_bounds(moment: datetime, ctx: Context) -> tuple[datetime, datetime]:
    """The owner's local day around ``moment``, in UTC (23 or 25 hours long on DST days)."""
    return day_bounds_in(moment, ctx.settings.tz)


def day_bounds_in(moment: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day in ``tz`` around ``moment``, in UTC (what max_per_day counts)."""
    day = moment.astimezone(tz).date()
    start = datetime.combine(day, dtime(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


_REASONS = {"notice": "too_soon", "busy": "slot_taken", "full": "day_full"}


def _asked_for(form: BookingForm, slot: Slot, *, id: str, created_at: datetime,
               **more: Any) -> Booking:
    """The call as the form asks for it: the slot and what the caller wrote."""
    return Booking(
        id=id,
        call_type=slot.call_type,
        start=slot.start,
        end=slot.end,
        name=form.name,
        phone=form.phone,
        email=form.email,
        topic=form.topic,
        note=form.note,
        who_calls=form.who_calls,
        language=form.language,
        caller_timezone=form.caller_timezone,
        created_at=created_at,
        **more,
    )


def _book(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    from generator.signing import ForgedSlot, verify_slot_token

    fields = req.fields
    lang = _language(fields.get("lang"), ctx)
    back = safe_back(fields.get("back") or "") or _home(ctx, lang)

    def refuse(code: str, problems: Iterable[FieldProblem] = ()) -> ApiResponse:
        return refusal(code, req, ctx, lang=lang, back=back, problems=problems)

    def refuse_with_choices(code: str, refused: Slot) -> ApiResponse:
        """The time is gone (or too soon): offer the next open ones of the same call type."""
        from generator.web.alternatives import choices, next_open_slots

        found = next_open_slots(
            ctx.settings,
            ctx.store,
            now,
            refused.call_type,
            after=refused.start,
            calendar_busy=ctx.calendar_busy,
        )
        offered = choices(ctx.settings, found, ctx.secret, fields, lang)
        return refusal(code, req, ctx, lang=lang, back=back, alternatives=offered)

    if not same_site(req.origin, req.host, ctx.settings):
        return refuse("cross_site")
    if fields.get("website"):
        # The honeypot: people never see this field, form-filling bots do.
        return refuse("spam")
    token = fields.get("slot") or ""
    slot = None
    if token:
        try:
            slot = verify_slot_token(ctx.secret, token)
        except ForgedSlot:
            return refuse("forged_slot")
        if slot.start < now:
            # A start equal to now is not past: with no notice the build offers it
            # (now + notice <= start), and check_slot below applies the notice.
            return refuse("slot_past")
    form = parse_form(fields, ctx.settings)
    if isinstance(form, list):
        return refuse("invalid_fields", form)
    assert slot is not None  # parse_form reports a missing slot
    key = idempotency_key(form)
    earlier = ctx.store.by_idempotency_key(key)
    if earlier is not None:
        # A double click or a retry: the first answer again, whatever happened since.
        return _replayed(req, ctx, form, slot, earlier)

    # Only attempts that could book count: a mistyped form, a forged or past slot and a
    # replay were refused above without a hit, and a hit whose attempt booked nothing (a
    # lost race, a closed day) is taken back below, so an ordinary caller is never locked
    # out by their own mistakes. Checked before the calendar re-read, which costs most.
    rate_key = keyed_rate_key(ctx.secret, "book", req.client)
    if ctx.rate_limit is not None:
        limit, window = ctx.rate_limit
        if not ctx.store.rate_hit(rate_key, now=now, window=window, limit=limit):
            wait = ctx.store.rate_retry_after(rate_key, now=now, window=window)
            return replace(refuse("rate_limited"), retry_after=retry_seconds(wait))
    created = False
    try:
        answer, created = _record(req, now, ctx, form, slot, key, refuse, refuse_with_choices)
    finally:
        if ctx.rate_limit is not None and not created:
            ctx.store.rate_refund(rate_key, at=now)
    return answer


def _record(
    req: ApiRequest,
    now: datetime,
    ctx: Context,
    form: BookingForm,
    slot: Slot,
    key: str,
    refuse: Callable[..., ApiResponse],
    refuse_with_choices: Callable[[str, Slot], ApiResponse],
) -> tuple[ApiResponse, bool]:
    """Check the slot against the calendars and the store and record the booking:
    (the answer, whether a booking was made)."""
    from generator.availability import check_slot
    from generator.domain import Busy

    day_start, day_end = _day_bounds(slot.start, ctx)
    rules = ctx.settings.booking
    # The rules that need no store first: a slot past its notice never waits on a calendar.
    reason = check_slot(ctx.settings, slot, now)
    busy: list[Busy] = []
    calendar_failed = False
    if reason is None and ctx.calendar_busy is not None:
        try:
            busy = ctx.calendar_busy(slot)
        except CalendarError as exc:
            # Never book over time that may be busy: refuse until the calendar reads again.
            log.warning("booking refused, calendar re-check failed: %s", exc.format_message())
            calendar_failed = True

    def decide(around: list[tuple[datetime, datetime]]) -> None:
        # Runs inside the booking transaction, after the store looked up the idempotency
        # key: a resubmitted form finds its own booking there and is never told "taken".
        if calendar_failed:
            raise _Refused("calendar_unavailable")
        booked = [Busy(s, e) for s, e in around]
        why = check_slot(ctx.settings, slot, now, busy=busy, booked=booked)
        if why is not None:
            raise _Refused(_REASONS.get(why, "slot_unavailable"))

    booking = _asked_for(
        form,
        slot,
        id=new_booking_id(),
        created_at=now,
        # The sentence as the caller read it (their page's language), not a posted text.
        consent_text=ctx.translate(CONSENT_TEXT, form.language) if form.consent else "",
        consent_at=now if form.consent else None,
    )
    channels = ctx.notify_channels("booked")
    try:
        recorded, created = ctx.store.book(
            booking,
            cancel_token_hash=hash_token(_cancel_token(ctx.secret, booking.id)),
            move_token_hash=hash_token(_move_token(ctx.secret, booking.id)),
            reminders=ctx.reminders(booking.start, now),
            idempotency_key=key,
            channels=channels,
            check=decide,
            **day_limits(rules, day_start, day_end),
        )
    except _Refused as refused:
        if refused.code in ("slot_taken", "day_full", "too_soon", "slot_unavailable"):
            return refuse_with_choices(refused.code, slot), False
        return refuse(refused.code), False
    except SlotTaken:
        return refuse_with_choices("slot_taken", slot), False
    except DayFull:
        return refuse_with_choices("day_full", slot), False
    if not created:
        return _replayed(req, ctx, form, slot, recorded), False
    if channels:
        ctx.after_commit(recorded.id, now)
    return _booked(req, ctx, form.back, recorded, created=True), True


class _Refused(Exception):
    """Raised inside the booking transaction to refuse with ``code`` (nothing is written)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _replayed(
    req: ApiRequest, ctx: Context, form: BookingForm, slot: Slot, earlier: Booking
) -> ApiResponse:
    """The answer to a form whose booking exists already.

    Only the browser that made the booking gets its page and cancel link again: its
    request carries the random ``idem`` the page's script made. Everyone else (a form
    sent without JavaScript, or anybody who knows a caller's name, phone, email and
    topic; slot tokens are public) learns nothing the request did not carry.
    """
    if PROOF_RE.match(form.idem):
        return _booked(req, ctx, form.back, earlier, created=False)
    if req.wants_json:
        return ApiResponse(
            200,
            data={
                "already_booked": True,
                "start": _iso(slot.start),
                "end": _iso(slot.end),
                "call_type": slot.call_type,
            },
        )
    lang = form.language
    t = ctx.translate
    # The facts as this request sent them, never the stored booking's (note, email, id).
    sent = _asked_for(form, slot, id="", created_at=earlier.created_at)
    heading = t("This call was booked already", lang)
    return ApiResponse(
        200,
        page=Page(
            title=heading,
            heading=heading,
            lead=t(
                "These details were sent before, so nothing was booked twice. The "
                "confirmation you received holds the link to cancel the call.",
                lang,
            ),
            details=booking_details(ctx.settings, sent, lang, t),
            links=((t("Back to the open times", lang), form.back or _home(ctx, lang)),),
            language=lang,
        ),
    )


def _booked(
    req: ApiRequest, ctx: Context, back: str, booking: Booking, *, created: bool
) -> ApiResponse:
    cancel = _cancel_token(ctx.secret, booking.id)
    if req.wants_json:
        base = ctx.settings.site.base_url.rstrip("/")
        return ApiResponse(
            201 if created else 200,
            data={
                "id": booking.id,
                "start": _iso(booking.start),
                "end": _iso(booking.end),
                "call_type": booking.call_type,
                "who_calls": booking.who_calls,
                "cancel_url": f"{base}/api/cancel?token={cancel}",
                "move_url": f"{base}/api/move?token={_move_token(ctx.secret, booking.id)}",
            },
        )
    location = f"/api/booking?token={cancel}"
    if back:
        location += f"&back={quote(back, safe='/')}"
    return ApiResponse(303, location=location)


def _by_token(
    req: ApiRequest, by_hash: Callable[[str], Booking | None]
) -> tuple[Booking | None, str]:
    """The booking whose token the request carries (None for a malformed one), and the token."""
    token = req.fields.get("token") or req.query.get("token") or ""
    return (by_hash(hash_token(token)) if _TOKEN_RE.match(token) else None), token


def open_link(
    req: ApiRequest, now: datetime, ctx: Context, by_hash: Callable[[str], Booking | None]
) -> tuple[Booking, str, str] | ApiResponse:
    """The booking a cancel or move link names (``by_hash`` finds it by the token's hash),
    the token as given and the answer's language; or the refusal when the token names
    no booking or the link has expired."""
    booking, token = _by_token(req, by_hash)
    lang = _language(
        req.fields.get("lang") or req.query.get("lang") or (booking.language if booking else None),
        ctx,
    )
    if booking is None:
        return refusal("unknown_token", req, ctx, lang=lang)
    if link_expired(booking, now, ctx.settings):
        return refusal("link_expired", req, ctx, lang=lang)
    return booking, token, lang


def _booking_page(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    opened = open_link(req, now, ctx, ctx.store.by_cancel_hash)
    if isinstance(opened, ApiResponse):
        return opened
    booking, token, lang = opened
    if req.wants_json:
        return ApiResponse(200, data=_booking_json(booking))
    t = ctx.translate
    back = safe_back(req.query.get("back") or "") or _home(ctx, lang)
    links: list[tuple[str, str]] = []
    if booking.status == "confirmed":
        if req.query.get("moved") == "1":
            # Where a move ends: the same page, with the new time and both links again.
            heading = t(N_("Your call is moved"), lang)
            lead = t(
                N_("Please keep the new time free. Both sides get an updated invitation."), lang
            )
        else:
            heading = t(N_("Your call is booked"), lang)
            lead = t(
                N_("Please keep the time free. Bookmark this page: it holds your cancel link."),
                lang,
            )
        if booking.start > now:  # once the call has begun, _cancel refuses ("too_late")
            move = _move_token(ctx.secret, booking.id)
            # A call booked before move links existed has no move token stored.
            if ctx.store.by_move_hash(hash_token(move)) is not None:
                links.append(
                    (t(N_("Move this call"), lang), f"/api/move?token={move}&lang={lang}")
                )
            links.append((t(N_("Cancel this call"), lang), f"/api/cancel?token={token}"))
    else:
        heading = t(N_("This call is cancelled"), lang)
        lead = t(N_("The time is free again. You can book a new time on the booking page."), lang)
    links.append((t(N_("Back to the open times"), lang), back))
    calendar: tuple[tuple[str, str], ...] = ()
    if booking.status == "confirmed" and booking.end > now:
        from generator.notify.calendar_links import calendar_links

        calendar = calendar_links(
            ctx.settings, booking, f"/api/booking.ics?token={token}", language=lang
        )
    return ApiResponse(
        200,
        page=Page(
            title=heading,
            heading=heading,
            lead=lead,
            details=booking_details(ctx.settings, booking, lang, t),
            links=tuple(links),
            language=lang,
            calendar=calendar,
        ),
    )


def _booking_ics(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    """The booked call as a calendar file, reached by the booking's secret token only, and
    only as long as the booking's page is ([privacy] keep): it holds the caller's details."""
    opened = open_link(req, now, ctx, ctx.store.by_cancel_hash)
    if isinstance(opened, ApiResponse):
        return opened
    booking = opened[0]
    from generator.notify.calendar_links import calendar_file

    return ApiResponse(
        200,
        body=calendar_file(ctx.settings, booking),
        content_type="text/calendar; charset=utf-8",
        filename="call.ics",
    )


def _booking_json(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.id,
        "start": _iso(booking.start),
        "end": _iso(booking.end),
        "call_type": booking.call_type,
        "status": booking.status,
        "topic": booking.topic,
        "who_calls": booking.who_calls,
    }


def _cancel(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    opened = open_link(req, now, ctx, ctx.store.by_cancel_hash)
    if isinstance(opened, ApiResponse):
        return opened
    booking, token, lang = opened
    if req.method == "POST" and not same_site(req.origin, req.host, ctx.settings):
        return refusal("cross_site", req, ctx, lang=lang)
    if booking.status == "confirmed" and booking.start <= now:
        return refusal("too_late", req, ctx, lang=lang)
    t = ctx.translate
    if req.method == "POST":
        if booking.status == "confirmed":
            channels = ctx.notify_channels("cancelled")
            cancelled = ctx.store.cancel(booking.id, now=now, channels=channels)
            if cancelled is not None and channels:
                ctx.after_commit(booking.id, now)
            booking = cancelled or booking
        if req.wants_json:
            return ApiResponse(200, data=_booking_json(booking))
        return ApiResponse(303, location=f"/api/booking?token={token}&lang={lang}")
    if req.wants_json:
        return ApiResponse(200, data=_booking_json(booking))
    if booking.status != "confirmed":
        return _booking_page(req, now, ctx)
    heading = t(N_("Cancel this call?"), lang)
    return ApiResponse(
        200,
        page=Page(
            title=heading,
            heading=heading,
            lead=t(N_("The time becomes free for others. The other side is told."), lang),
            details=booking_details(ctx.settings, booking, lang, t),
            form={
                "action": "/api/cancel",
                "method": "post",
                "hidden": [("token", token), ("lang", lang)],
                "button": t(N_("Yes, cancel the call"), lang),
            },
            links=((t(N_("Keep the call"), lang), f"/api/booking?token={token}"),),
            language=lang,
        ),
    )


def _taken(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    taken = [{"start": _iso(s), "end": _iso(e)} for s, e in ctx.store.taken(now)]
    # A few seconds of staleness is harmless: the booking itself is checked atomically.
    return ApiResponse(200, data={"taken": taken}, cache="public, max-age=10")


def _health(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    try:
        ctx.store.ping()
    except Exception as exc:  # any failure of the database means "not healthy"
        log.error("health check failed: %s", exc)
        return ApiResponse(503, data={"ok": False})
    return ApiResponse(200, data={"ok": True})


def _feed(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    if not ctx.feed_key:
        return refusal("not_found", req, ctx)
    if ctx.feed_rate_limit is not None:
        # Calendar apps poll a few times an hour; a guesser needs millions of tries.
        limit, window = ctx.feed_rate_limit
        rate_key = keyed_rate_key(ctx.secret, "feed", req.client)
        if not ctx.store.rate_hit(rate_key, now=now, window=window, limit=limit):
            wait = ctx.store.rate_retry_after(rate_key, now=now, window=window)
            return replace(refusal("rate_limited", req, ctx), retry_after=retry_seconds(wait))
    given = req.query.get("key") or ""
    if not hmac.compare_digest(given.encode(), ctx.feed_key.encode()):
        return refusal("forbidden", req, ctx)
    from generator.notify.invite import bookings_feed

    body = bookings_feed(ctx.settings, ctx.store.bookings(since=now - _FEED_WINDOW))
    return ApiResponse(200, body=body, content_type="text/calendar; charset=utf-8")


def _move_view(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    from generator.web.move import move_view

    return move_view(req, now, ctx)


# For web/move.py, which answers as the views here do.
day_bounds = _day_bounds
iso_utc = _iso
booking_json = _booking_json


ROUTES: dict[str, tuple[str, ...]] = {
    "/api/book": ("POST",),
    "/api/booking": ("GET", "HEAD"),
    "/api/booking.ics": ("GET", "HEAD"),
    "/api/cancel": ("GET", "HEAD", "POST"),
    "/api/move": ("GET", "HEAD", "POST"),
    "/api/taken": ("GET", "HEAD"),
    "/api/health": ("GET", "HEAD"),
    "/api/bookings.ics": ("GET", "HEAD"),
}
_VIEWS: dict[str, Callable[[ApiRequest, datetime, Context], ApiResponse]] = {
    "/api/book": _book,
    "/api/booking": _booking_page,
    "/api/booking.ics": _booking_ics,
    "/api/cancel": _cancel,
    "/api/move": _move_view,
    "/api/taken": _taken,
    "/api/health": _health,
    "/api/bookings.ics": _feed,
}


def handle(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    """Answer one request; every refusal is an answer, never an exception."""
    path = _alias(req.path, ctx.settings)
    if path not in _VIEWS:
        return refusal("not_found", req, ctx)
    if req.method not in ROUTES[path]:
        return refusal(
            "method_not_allowed",
            replace(req, path=path),
            ctx,
        )
    return _VIEWS[path](req, now, ctx)


def _alias(path: str, settings: Settings) -> str:
    """The configured endpoint paths (booking.endpoint, taken_endpoint) reach the same views."""
    path = path.rstrip("/") or "/"
    for configured, canonical in (
        (settings.booking.endpoint, "/api/book"),
        (settings.booking.taken_endpoint, "/api/taken"),
    ):
        own = re.sub(r"^https?://[^/]+", "", configured).rstrip("/")
        if own and path == own:
            return canonical
    return path
