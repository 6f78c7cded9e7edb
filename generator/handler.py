"""The booking handler: one WSGI application that records calls atomically and answers callers.

    POST     /api/book           form-encoded or JSON; 303 to the booking page, or 201 JSON
    GET      /api/booking?token= the booking's page (thanks page, status, cancel link)
    GET|POST /api/cancel?token=  confirm, then cancel (the slot becomes free again)
    GET      /api/taken          future booked intervals, nothing personal
    GET      /api/health         {"ok": true} when the store answers
    GET      /api/bookings.ics?key=  the owner's private feed

The core, :func:`handle`, is a function from (request data, now, context) to
an :class:`ApiResponse`; :class:`BookingApp` is the thin Werkzeug adapter
around it, and `callslot serve`, gunicorn (``generator.handler:app``) and AWS
Lambda (``generator.lambda_handler:handler``) all run that one adapter.

Importing this module stays cheap (a cold start on Lambda): Jinja2, Babel,
icalendar and psycopg are imported only when first needed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from .answers import ERRORS, Page, Translate, booking_details, error_page, field_message
from .errors import CalendarError, CallslotError
from .form import FieldProblem, idempotency_key, parse_form, safe_back
from .settings import Settings, parse_rate_limit
from .store.base import Booking, DayFull, SlotTaken, Store

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from .availability import Slot
    from .calendars import Busy

__all__ = [
    "MAX_BODY",
    "ApiRequest",
    "ApiResponse",
    "BookingApp",
    "Context",
    "app",
    "create_app",
    "handle",
    "hash_token",
]

log = logging.getLogger("callslot.handler")

MAX_BODY = 64 * 1024  # the form is a few hundred bytes; anything this big is not a booking
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_FEED_WINDOW = timedelta(days=30)  # past calls the owner's feed still shows
_CALENDAR_TTL = 180.0  # seconds a re-read calendar is trusted


@dataclass(frozen=True)
class ApiRequest:
    """What the core needs of an HTTP request, already decoded."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)  # body: form or JSON object
    wants_json: bool = False
    client: str = ""  # the caller's address, for the rate limit


@dataclass(frozen=True)
class ApiResponse:
    status: int
    data: Any = None  # a JSON answer
    page: Page | None = None  # an HTML answer
    location: str | None = None
    body: bytes | None = None
    content_type: str = ""
    cache: str = "no-store"  # personal by default; only /api/taken is cacheable
    allow: tuple[str, ...] = ()


@dataclass
class Context:
    """Everything the core works with besides the request and the clock."""

    settings: Settings
    store: Store
    secret: bytes
    translate: Translate
    rate_limit: tuple[int, timedelta] | None = None
    feed_key: str | None = None
    # Busy time of the owner's calendars around a slot; raises CalendarError. None: no re-check.
    calendar_busy: Callable[[Slot], list[Busy]] | None = None
    # Called after a booking or cancellation commits (notifications); must not raise.
    after_commit: Callable[[str, datetime], None] = lambda booking_id, now: None
    notify_channels: Callable[[str], list[str]] = lambda event: []


def hash_token(token: str) -> str:
    """Cancel tokens are stored only as this hash: a leaked database cannot cancel calls."""
    return hashlib.sha256(token.encode()).hexdigest()


def _cancel_token(secret: bytes, booking_id: str) -> str:
    from .signing import cancel_token

    return cancel_token(secret, booking_id)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------
# The core


def _language(value: str | None, ctx: Context) -> str:
    return value if value in ("de", "en") else ctx.settings.owner.language


def _home(ctx: Context) -> str:
    return "/"


def _error(
    code: str,
    req: ApiRequest,
    ctx: Context,
    *,
    lang: str | None = None,
    back: str | None = None,
    problems: Iterable[FieldProblem] = (),
) -> ApiResponse:
    lang = lang or _language(req.fields.get("lang") or req.query.get("lang"), ctx)
    status = ERRORS[code][0]
    problems = list(problems)
    allow = _ROUTES.get(req.path, ()) if code == "method_not_allowed" else ()
    if req.wants_json:
        data: dict[str, Any] = {"error": code, "message": ctx.translate(ERRORS[code][2], lang)}
        if problems:
            data["fields"] = [
                {"field": p.field, "code": p.code, "message": field_message(p, lang, ctx.translate)}
                for p in problems
            ]
        return ApiResponse(status, data=data, allow=allow)
    page = error_page(code, lang, ctx.translate, back=back or _home(ctx), problems=problems)
    return ApiResponse(status, page=page, allow=allow)


def _day_bounds(moment: datetime, ctx: Context) -> tuple[datetime, datetime]:
    """The owner's local day around ``moment``, in UTC (23 or 25 hours long on DST days)."""
    tz = ctx.settings.tz
    day = moment.astimezone(tz).date()
    start = datetime.combine(day, dtime(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


_REASONS = {"notice": "too_soon", "busy": "slot_taken", "full": "day_full"}


def _book(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    from .availability import check_slot
    from .calendars import Busy
    from .signing import ForgedSlot, verify_slot_token

    fields = req.fields
    lang = _language(fields.get("lang"), ctx)
    back = safe_back(fields.get("back") or "") or _home(ctx)

    def refuse(code: str, problems: Iterable[FieldProblem] = ()) -> ApiResponse:
        return _error(code, req, ctx, lang=lang, back=back, problems=problems)

    if ctx.rate_limit is not None:
        limit, window = ctx.rate_limit
        if not ctx.store.rate_hit(f"book:{req.client}", now=now, window=window, limit=limit):
            return refuse("rate_limited")
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
        if slot.start <= now:
            return refuse("slot_past")
    form = parse_form(fields, ctx.settings)
    if isinstance(form, list):
        return refuse("invalid_fields", form)
    assert slot is not None  # parse_form reports a missing slot
    key = idempotency_key(form)
    earlier = ctx.store.by_idempotency_key(key)
    if earlier is not None:
        # A double click or a retry: the first answer again, whatever happened since.
        return _booked(req, ctx, form.back, earlier, created=False)

    day_start, day_end = _day_bounds(slot.start, ctx)
    rules = ctx.settings.booking
    pad = rules.buffer_before + rules.buffer_after
    booked = [Busy(s, e) for s, e in ctx.store.taken(day_start - pad, before=day_end + pad)]
    reason = check_slot(ctx.settings, slot, now, booked=booked)
    if reason is None and ctx.calendar_busy is not None:
        try:
            busy = ctx.calendar_busy(slot)
        except CalendarError as exc:
            # Never book over time that may be busy: refuse until the calendar reads again.
            log.warning("booking refused, calendar re-check failed: %s", exc.format_message())
            return refuse("calendar_unavailable")
        reason = check_slot(ctx.settings, slot, now, busy=busy, booked=booked)
    if reason is not None:
        return refuse(_REASONS.get(reason, "slot_unavailable"))

    booking = Booking(
        id=secrets.token_urlsafe(9),
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
        created_at=now,
    )
    channels = ctx.notify_channels("booked")
    try:
        recorded, created = ctx.store.book(
            booking,
            cancel_token_hash=hash_token(_cancel_token(ctx.secret, booking.id)),
            idempotency_key=key,
            channels=channels,
            day_start=day_start,
            day_end=day_end,
            max_per_day=rules.max_per_day,
            buffer_before=rules.buffer_before,
            buffer_after=rules.buffer_after,
        )
    except SlotTaken:
        return refuse("slot_taken")
    except DayFull:
        return refuse("day_full")
    if created and channels:
        ctx.after_commit(recorded.id, now)
    return _booked(req, ctx, form.back, recorded, created=created)


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
            },
        )
    location = f"/api/booking?token={cancel}"
    if back:
        location += f"&back={quote(back, safe='/')}"
    return ApiResponse(303, location=location)


def _find(req: ApiRequest, ctx: Context) -> tuple[Booking | None, str]:
    token = req.fields.get("token") or req.query.get("token") or ""
    if not _TOKEN_RE.match(token):
        return None, token
    return ctx.store.by_cancel_hash(hash_token(token)), token


def _booking_page(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    booking, token = _find(req, ctx)
    lang = _language(req.query.get("lang") or (booking.language if booking else None), ctx)
    if booking is None:
        return _error("unknown_token", req, ctx, lang=lang)
    if req.wants_json:
        return ApiResponse(200, data=_booking_json(booking))
    t = ctx.translate
    back = safe_back(req.query.get("back") or "") or _home(ctx)
    links: list[tuple[str, str]] = []
    if booking.status == "confirmed":
        heading = t("Your call is booked", lang)
        lead = t("Please keep the time free. Bookmark this page: it holds your cancel link.", lang)
        if booking.end > now:
            links.append((t("Cancel this call", lang), f"/api/cancel?token={token}"))
    else:
        heading = t("This call is cancelled", lang)
        lead = t("The time is free again. You can book a new time on the booking page.", lang)
    links.append((t("Back to the open times", lang), back))
    return ApiResponse(
        200,
        page=Page(
            title=heading,
            heading=heading,
            lead=lead,
            details=booking_details(ctx.settings, booking, lang, t),
            links=tuple(links),
            language=lang,
        ),
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
    booking, token = _find(req, ctx)
    lang = _language(
        req.fields.get("lang") or req.query.get("lang") or (booking.language if booking else None),
        ctx,
    )
    if booking is None:
        return _error("unknown_token", req, ctx, lang=lang)
    if booking.status == "confirmed" and booking.start <= now:
        return _error("too_late", req, ctx, lang=lang)
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
    heading = t("Cancel this call?", lang)
    return ApiResponse(
        200,
        page=Page(
            title=heading,
            heading=heading,
            lead=t("The time becomes free for others. The other side is told.", lang),
            details=booking_details(ctx.settings, booking, lang, t),
            form={
                "action": "/api/cancel",
                "method": "post",
                "hidden": [("token", token), ("lang", lang)],
                "button": t("Yes, cancel the call", lang),
            },
            links=((t("Keep the call", lang), f"/api/booking?token={token}"),),
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
        return _error("not_found", req, ctx)
    given = req.query.get("key") or ""
    if not hmac.compare_digest(given.encode(), ctx.feed_key.encode()):
        return _error("forbidden", req, ctx)
    from .invite import bookings_feed

    body = bookings_feed(ctx.settings, ctx.store.bookings(since=now - _FEED_WINDOW))
    return ApiResponse(200, body=body, content_type="text/calendar; charset=utf-8")


_ROUTES: dict[str, tuple[str, ...]] = {
    "/api/book": ("POST",),
    "/api/booking": ("GET", "HEAD"),
    "/api/cancel": ("GET", "HEAD", "POST"),
    "/api/taken": ("GET", "HEAD"),
    "/api/health": ("GET", "HEAD"),
    "/api/bookings.ics": ("GET", "HEAD"),
}
_VIEWS: dict[str, Callable[[ApiRequest, datetime, Context], ApiResponse]] = {
    "/api/book": _book,
    "/api/booking": _booking_page,
    "/api/cancel": _cancel,
    "/api/taken": _taken,
    "/api/health": _health,
    "/api/bookings.ics": _feed,
}


def handle(req: ApiRequest, now: datetime, ctx: Context) -> ApiResponse:
    """Answer one request; every refusal is an answer, never an exception."""
    path = _alias(req.path, ctx.settings)
    if path not in _VIEWS:
        return _error("not_found", req, ctx)
    if req.method not in _ROUTES[path]:
        return _error(
            "method_not_allowed",
            ApiRequest(req.method, path, req.query, req.fields, req.wants_json),
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


# --------------------------------------------------------------------------
# The WSGI adapter


def _security_headers(response: Response) -> None:
    """Headers every answer carries (Werkzeug is imported with the first request, not the
    module, to keep a cold start short)."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The cancel token is in the URL of personal pages: never send it on as a referrer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
    )


class BookingApp:
    """The WSGI application around :func:`handle`."""

    def __init__(
        self,
        ctx: Context,
        *,
        clock: Callable[[], datetime] | None = None,
        trusted_proxies: int = 0,
        render: Callable[[Page], str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.clock = clock or (lambda: datetime.now(UTC))
        self.render = render or (lambda page: _plain_html(page))
        self._entry: Callable[..., Iterable[bytes]] = self._wsgi
        if trusted_proxies:
            # Behind a proxy (Netlify's /api/* rewrite: 1) the caller's address is in
            # X-Forwarded-For; trusting it without a proxy would let anyone dodge the limit.
            from werkzeug.middleware.proxy_fix import ProxyFix

            self._entry = ProxyFix(self._wsgi, x_for=trusted_proxies)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        return self._entry(environ, start_response)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        from werkzeug.wrappers import Request

        request = Request(environ)
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        wants_json = _wants_json(request)
        req = ApiRequest(
            method=request.method,
            path=request.path,
            query={k: v for k, v in request.args.items()},
            wants_json=wants_json,
            client=request.remote_addr or "",
        )
        try:
            if request.method == "POST":
                fields_or_code = _read_body(request)
                if isinstance(fields_or_code, str):
                    result = _error(fields_or_code, req, self.ctx)
                    return self._response(result, req)
                req = ApiRequest(
                    req.method, req.path, req.query, fields_or_code, wants_json, req.client
                )
            result = handle(req, self.clock(), self.ctx)
        except Exception:  # a bug or a database outage: logged, answered, nothing half-done
            log.exception("handler error on %s %s", request.method, request.path)
            result = _error("unavailable", req, self.ctx)
        return self._response(result, req)

    def _response(self, result: ApiResponse, req: ApiRequest) -> Response:
        from werkzeug.wrappers import Response

        if result.location is not None:
            response = Response(status=result.status, headers={"Location": result.location})
        elif result.page is not None:
            html = self.render(result.page)
            response = Response(html, status=result.status, content_type="text/html; charset=utf-8")
            response.headers["Content-Security-Policy"] = _page_csp(html)
            response.headers["Content-Language"] = result.page.language
        elif result.body is not None:
            response = Response(result.body, status=result.status, content_type=result.content_type)
        else:
            response = Response(
                json.dumps(result.data, ensure_ascii=False),
                status=result.status,
                content_type="application/json; charset=utf-8",
            )
        response.headers["Cache-Control"] = result.cache
        if result.allow:
            response.headers["Allow"] = ", ".join(result.allow)
        _security_headers(response)
        return response


def _page_csp(html: str) -> str:
    try:
        from .theme import content_security_policy
    except ImportError:  # pragma: no cover - the theme module ships with the package
        return "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    # Handler pages are never framed: the cancel button must not be clickjacked.
    return content_security_policy([html], allow_framing=False)


def _wants_json(request: Request) -> bool:
    if request.mimetype == "application/json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _read_body(request: Request) -> dict[str, str] | str:
    """The POSTed fields, or the error code when the body cannot be a booking form."""
    from werkzeug.exceptions import RequestEntityTooLarge

    if request.content_length is not None and request.content_length > MAX_BODY:
        return "too_large"
    if request.mimetype not in ("application/x-www-form-urlencoded", "application/json"):
        return "unsupported_type"
    request.max_content_length = MAX_BODY
    try:
        raw = request.get_data(cache=False, parse_form_data=False)
    except RequestEntityTooLarge:
        return "too_large"
    if len(raw) > MAX_BODY:
        return "too_large"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_request"
    if request.mimetype == "application/json":
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            return "bad_request"
        if not isinstance(data, dict):
            return "bad_request"
        fields: dict[str, str] = {}
        for key, value in data.items():
            if value is None:
                continue
            if not isinstance(value, str):
                return "bad_request"
            fields[str(key)] = value
        return fields
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=64)
    except ValueError:
        return "bad_request"
    fields = {}
    for key, value in pairs:
        fields.setdefault(key, value)  # the first value of a repeated field counts
    return fields


def _plain_html(page: Page) -> str:
    """A bare page, for when no theme can be loaded: the answer must still be readable."""
    from html import escape

    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in page.details)
    links = "".join(
        f'<li><a href="{escape(h)}">{escape(label)}</a></li>' for label, h in page.links
    )
    form = ""
    if page.form:
        hidden = "".join(
            f'<input type="hidden" name="{escape(n)}" value="{escape(v)}">'
            for n, v in page.form["hidden"]
        )
        form = (
            f'<form action="{escape(page.form["action"])}" method="post">{hidden}'
            f'<button type="submit">{escape(page.form["button"])}</button></form>'
        )
    return (
        f'<!doctype html><html lang="{escape(page.language)}"><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(page.title)}</title><h1>{escape(page.heading)}</h1>"
        f"<p>{escape(page.lead)}</p><dl>{rows}</dl>{form}<ul>{links}</ul></html>"
    )


# --------------------------------------------------------------------------
# Assembly


class _ThemeText:
    """The site's theme, loaded on first use: translations and message.html."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._theme: Any = None
        self._failed = False
        self._lock = threading.Lock()

    def theme(self) -> Any:
        if self._theme is None and not self._failed:
            with self._lock:
                if self._theme is None and not self._failed:
                    try:
                        from .theme import load_theme

                        self._theme = load_theme(self.settings)
                    except CallslotError as exc:
                        self._failed = True
                        log.error(
                            "theme not loaded, answering with plain pages: %s", exc.format_message()
                        )
        return self._theme

    def translate(self, message: str, language: str) -> str:
        theme = self.theme()
        return theme.gettext(message, language) if theme is not None else message

    def render(self, page: Page) -> str:
        theme = self.theme()
        if theme is None:
            return _plain_html(page)
        try:
            return theme.render(
                "message.html",
                lang=page.language,
                title=page.title,
                heading=page.heading,
                lead=page.lead,
                details=list(page.details),
                links=list(page.links),
                form=page.form,
                status=page.status,
            )
        except CallslotError as exc:
            log.error("message.html failed, answering with a plain page: %s", exc.format_message())
            return _plain_html(page)


class _CalendarCheck:
    """The owner's calendars re-read around a slot's day, trusted for a few minutes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[datetime, tuple[float, list[Busy]]] = {}
        self._lock = threading.Lock()
        cache_dir = settings.state_dir / "cache"
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.cache_dir = cache_dir
        except OSError:  # a read-only deployment (Lambda): read without a disk cache
            self.cache_dir = None

    def __call__(self, slot: Slot) -> list[Busy]:
        from .calendars import read_busy

        tz = self.settings.tz
        day = slot.start.astimezone(tz).date()
        day_start = datetime.combine(day, dtime(0), tzinfo=tz).astimezone(UTC)
        with self._lock:
            hit = self._cache.get(day_start)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        rules = self.settings.booking
        pad = rules.buffer_before + rules.buffer_after + timedelta(hours=1)
        busy = list(
            read_busy(
                self.settings.calendars,
                tz,
                day_start - pad,
                day_start + timedelta(days=1) + pad,
                cache_dir=self.cache_dir,
                timeout=10.0,
            )
        )
        with self._lock:
            self._cache[day_start] = (time.monotonic() + _CALENDAR_TTL, busy)
        return busy


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    secret: bytes | None = None,
    clock: Callable[[], datetime] | None = None,
    env: Mapping[str, str] | None = None,
) -> BookingApp:
    """The WSGI application: settings from CALLSLOT_CONFIG (or content/site.toml), the store
    from DATABASE_URL, the key from CALLSLOT_SECRET, unless given.

    CALLSLOT_RATE_LIMIT overrides booking.rate_limit ("off" disables it);
    CALLSLOT_TRUSTED_PROXIES=N trusts N proxies' X-Forwarded-For (default 0);
    CALLSLOT_FEED_KEY is the key of /api/bookings.ics unless notify.feed_key is set.
    """
    from .errors import ConfigError
    from .settings import load_settings
    from .signing import load_secret
    from .store import open_store

    env = os.environ if env is None else env
    if settings is None:
        settings = load_settings(env.get("CALLSLOT_CONFIG") or None, env=env)
    if secret is None:
        secret = load_secret(settings.state_dir, create=False, env=dict(env))[0]
    if store is None:
        store = open_store(env.get("DATABASE_URL"), settings=settings)
    override = env.get("CALLSLOT_RATE_LIMIT")
    rate = parse_rate_limit(
        override if override else settings.booking.rate_limit,
        field="CALLSLOT_RATE_LIMIT" if override else "booking.rate_limit",
    )
    try:
        proxies = int(env.get("CALLSLOT_TRUSTED_PROXIES") or 0)
    except ValueError:
        raise ConfigError(
            "must be a whole number of proxies in front of the handler, e.g. 1",
            field="CALLSLOT_TRUSTED_PROXIES",
        ) from None
    feed_key = None
    if settings.notify.feed_key is not None and settings.notify.feed_key.present:
        feed_key = settings.notify.feed_key.get()
    elif env.get("CALLSLOT_FEED_KEY"):
        feed_key = env["CALLSLOT_FEED_KEY"]
    text = _ThemeText(settings)

    def after_commit(booking_id: str, now: datetime) -> None:
        from .notify import send_now

        try:
            send_now(settings, store, booking_id, now=now, secret=secret)
        except Exception:  # send_now never raises by contract; a bug must not undo a booking
            log.exception("notifications for %s stay queued", booking_id)

    def notify_channels(event: str) -> list[str]:
        from .notify import channels_for

        return channels_for(settings, event)

    ctx = Context(
        settings=settings,
        store=store,
        secret=secret,
        translate=text.translate,
        rate_limit=rate,
        feed_key=feed_key,
        calendar_busy=_CalendarCheck(settings)
        if settings.booking.recheck_calendars and settings.calendars
        else None,
        after_commit=after_commit,
        notify_channels=notify_channels,
    )
    return BookingApp(ctx, clock=clock, trusted_proxies=proxies, render=text.render)


class _LazyApp:
    """``generator.handler:app`` for WSGI servers: built on the first request, so that
    importing the module stays fast and a bad configuration is reported, not crashed on."""

    def __init__(self) -> None:
        self._app: BookingApp | None = None
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    try:
                        self._app = create_app()
                    except CallslotError as exc:
                        # The message names files and variables, never their secret values.
                        log.error("callslot handler not configured: %s", exc.format_message())
                        from werkzeug.wrappers import Response

                        response = Response(
                            '{"error": "unavailable"}', status=503, content_type="application/json"
                        )
                        return response(environ, start_response)
        return self._app(environ, start_response)


app = _LazyApp()
