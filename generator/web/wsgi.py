"""The booking handler: one WSGI application that records calls atomically and answers callers.

The rules live in :mod:`generator.web.core` (``handle``: request data, now and a
context in, an answer out); this module is the thin Werkzeug adapter around
it (:class:`BookingApp`), and builds it from the environment
(:func:`create_app`). `callslot serve`, any WSGI server
(``gunicorn generator.handler:app``) and AWS Lambda
(``generator.lambda_handler:handler``) all run this one application.

Importing this module stays cheap (a cold start on Lambda): Werkzeug, Jinja2,
Babel, icalendar and psycopg are imported only when first needed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from generator.clock import Clock, clock_from_env, system_clock
from generator.config.settings import Settings, parse_rate_limit
from generator.errors import CallslotError
from generator.files import make_dirs
from generator.store.base import Store
from generator.web.answers import Page
from generator.web.core import (
    FEED_RATE_LIMIT,
    ApiRequest,
    ApiResponse,
    Context,
    handle,
    hash_token,
    refusal,
)

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from generator.domain import Busy, Slot

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
_CALENDAR_TTL = 180.0  # seconds a re-read calendar is trusted
# A booking request ends inside a proxy's or Lambda's timeout (15 s in the deploy guide):
# an answer after it looks failed although the booking is recorded. The calendar re-check
# gets RECHECK_SECONDS for all calendars together; the notifications get what is left of
# REQUEST_SECONDS (at most notify.IMMEDIATE_BUDGET), the rest goes to `callslot notify`.
REQUEST_SECONDS = 12.0
RECHECK_SECONDS = 5.0
_request = threading.local()  # when the current request began (time.monotonic())


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


_chain_warned = threading.Event()  # the short X-Forwarded-For warning: once per process


def _check_forwarded_chain(environ: Mapping[str, Any], trusted_proxies: int) -> None:
    """Warn once when X-Forwarded-For has fewer entries than the trusted proxies: ProxyFix
    then keeps the proxy's own address, and every caller shares one rate limit."""
    if _chain_warned.is_set() or environ.get("PATH_INFO") == "/api/health":
        return  # a health check may come straight from the machine itself
    header = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
    hops = len([part for part in header.split(",") if part.strip()])
    if hops >= trusted_proxies:
        return
    _chain_warned.set()
    # No addresses in the message: only how many there were.
    log.warning(
        "CALLSLOT_TRUSTED_PROXIES is %d but a request came with %d X-Forwarded-For "
        "address(es), so the rate limit counts a proxy's address and every caller shares "
        "it. Check that each proxy in front passes the header on and adds its hop (Caddy "
        "2.5 or later replaces it unless the global option servers { trusted_proxies "
        "static ... } names the proxy before it), or lower CALLSLOT_TRUSTED_PROXIES to the "
        "number of proxies there are. Logged once.",
        trusted_proxies,
        hops,
    )


class BookingApp:
    """The WSGI application around :func:`handle`."""

    def __init__(
        self,
        ctx: Context,
        *,
        clock: Clock | None = None,
        trusted_proxies: int = 0,
        render: Callable[[Page], str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.clock = clock or system_clock
        self.render = render or (lambda page: _plain_html(page))
        self._entry: Callable[..., Iterable[bytes]] = self._wsgi
        if trusted_proxies:
            # Behind a proxy (Netlify's /api/* rewrite: 1) the caller's address is in
            # X-Forwarded-For; trusting it without a proxy would let anyone dodge the limit.
            from werkzeug.middleware.proxy_fix import ProxyFix

            fixed = ProxyFix(self._wsgi, x_for=trusted_proxies)

            def entry(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
                _check_forwarded_chain(environ, trusted_proxies)
                return fixed(environ, start_response)

            self._entry = entry

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        return self._entry(environ, start_response)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        from werkzeug.wrappers import Request

        request = Request(environ)
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        _request.started = time.monotonic()
        wants_json = _wants_json(request)
        req = ApiRequest(
            method=request.method,
            path=request.path,
            query={k: v for k, v in request.args.items()},
            wants_json=wants_json,
            client=request.remote_addr or "",
            origin=_claimed_origin(request),
            host=request.host,
            referer=_referer_path(request),
            accept_language=request.headers.get("Accept-Language", "")[:200],
        )
        try:
            if request.method == "POST":
                fields_or_code = _read_body(request)
                if isinstance(fields_or_code, str):
                    result = refusal(fields_or_code, req, self.ctx)
                    return self._response(result, req)
                req = replace(req, fields=fields_or_code)
            result = handle(req, self.clock(), self.ctx)
        except Exception:  # a bug or a database outage: logged, answered, nothing half-done
            log.exception("handler error on %s %s", request.method, request.path)
            result = refusal("unavailable", req, self.ctx)
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
            if result.filename:
                disposition = f'attachment; filename="{result.filename}"'
                response.headers["Content-Disposition"] = disposition

        else:
            response = Response(
                json.dumps(result.data, ensure_ascii=False),
                status=result.status,
                content_type="application/json; charset=utf-8",
            )
        response.headers["Cache-Control"] = result.cache
        if result.allow:
            response.headers["Allow"] = ", ".join(result.allow)
        if result.retry_after is not None:
            response.headers["Retry-After"] = str(result.retry_after)
        _security_headers(response)
        if result.page is not None and (result.page.rebook or result.page.form):
            # Its forms (book another time, move, cancel) post back to this site: under
            # "no-referrer" browsers send "Origin: null" with them (Fetch: a POST's origin
            # is serialized as null under that policy), and the same-site check refuses
            # them. "same-origin" sends this page's address to this site alone; no other
            # site learns it (the move and cancel pages' addresses hold their token).
            response.headers["Referrer-Policy"] = "same-origin"
        return response


def _page_csp(html: str) -> str:
    try:
        from generator.page.theme import content_security_policy
    except ImportError:  # pragma: no cover - the theme module ships with the package
        return "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    # Handler pages are never framed: the cancel button must not be clickjacked.
    return content_security_policy([html], allow_framing=False)


def _claimed_origin(request: Request) -> str:
    """The Origin a browser sent, else the scheme://host of its Referer, else ""."""
    origin = request.headers.get("Origin", "").strip()
    if origin:
        return origin
    referer = request.headers.get("Referer", "").strip()
    if not referer:
        return ""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(referer)
    except ValueError:
        return "null"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "null"
    return f"{parts.scheme}://{parts.netloc}"


def _referer_path(request: Request) -> str:
    """The path of the Referer (its language folder tells the language of answers that
    carry no form, such as a 413; the core takes it only from a same-site page), else ""."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(request.headers.get("Referer", "").strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return parts.path or "/"


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
    # One byte more than allowed: Werkzeug cuts a streamed (chunked) body at this limit
    # without an error, so a body cut at MAX_BODY would pass as a whole one.
    request.max_content_length = MAX_BODY + 1
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
        if _too_deep(text):
            return "bad_request"
        try:
            data = json.loads(text) if text.strip() else {}
        except (ValueError, RecursionError):
            return "bad_request"
        if not isinstance(data, dict):
            return "bad_request"
        fields: dict[str, str] = {}
        for key, value in data.items():
            if value is None:
                continue
            if not isinstance(value, str) or not _is_text(key) or not _is_text(value):
                return "bad_request"
            fields[key] = value
        return fields
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=64)
    except ValueError:
        return "bad_request"
    fields = {}
    for key, value in pairs:
        fields.setdefault(key, value)  # the first value of a repeated field counts
    return fields


def _is_text(value: str) -> bool:
    """False for a string with a lone surrogate ("\\ud800" in JSON): valid JSON, but no
    text; the store, the mail and the page could not encode it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_MAX_DEPTH = 8  # the form is one flat object; "[" * 30000 would exhaust the parser's stack


def _too_deep(text: str) -> bool:
    """True when brackets nest deeper than any booking form: refused before parsing, as
    json.loads recurses once per level (strings are skipped, so "[[" in a note counts not)."""
    if text.count("[") + text.count("{") <= _MAX_DEPTH:
        return False  # the usual form: no scan
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


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
        choices = "".join(
            f"<fieldset><legend>{escape(legend)}</legend>"
            + "".join(
                f'<label><input type="radio" name="slot" value="{escape(value)}" required> '
                f"{escape(label)}</label>"
                for value, label in options
            )
            + "</fieldset>"
            for legend, options in page.form.get("choices") or ()
        )
        form = (
            f'<form action="{escape(page.form["action"])}" method="post">{hidden}{choices}'
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
                        # The same loaded theme writes the mails and invitations.
                        from generator.notify.wording import theme_for

                        self._theme = theme_for(self.settings)
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
                calendar=list(page.calendar),
                rebook=list(page.rebook),
                rebook_zone=page.rebook_zone,
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
            make_dirs(cache_dir)
            self.cache_dir = cache_dir
        except OSError:  # a read-only deployment (Lambda): read without a disk cache
            self.cache_dir = None

    def __call__(self, slot: Slot) -> list[Busy]:
        from generator.busy.calendars import read_busy

        tz = self.settings.tz
        day = slot.start.astimezone(tz).date()
        day_start = datetime.combine(day, dtime(0), tzinfo=tz).astimezone(UTC)
        with self._lock:
            hit = self._cache.get(day_start)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        rules = self.settings.booking
        pad = rules.buffer_before + rules.buffer_after + timedelta(hours=1)
        # One deadline for all calendars together, every read of each bounded by it.
        busy = read_busy(
            self.settings.calendars,
            tz,
            day_start - pad,
            day_start + timedelta(days=1) + pad,
            cache_dir=self.cache_dir,
            timeout=RECHECK_SECONDS,
            deadline=time.monotonic() + RECHECK_SECONDS,
        )
        with self._lock:
            self._cache[day_start] = (time.monotonic() + _CALENDAR_TTL, busy)
        return busy


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    secret: bytes | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    notify_mode: str | None = None,
) -> BookingApp:
    """The WSGI application: settings from CALLSLOT_CONFIG (or content/site.toml), the store
    from DATABASE_URL, the key from CALLSLOT_SECRET, the clock from CALLSLOT_NOW (or the
    system clock), unless given.

    ``notify_mode`` (or CALLSLOT_NOTIFY): "background" (the default: the answer goes
    out first, a thread of this process sends the mails and webhooks right after) or
    "inline" (AWS Lambda, where nothing runs after the answer: a bounded attempt
    before it, the rest left to a scheduled `callslot notify`).

    CALLSLOT_RATE_LIMIT overrides booking.rate_limit ("off" disables it);
    CALLSLOT_TRUSTED_PROXIES=N trusts N proxies' X-Forwarded-For (default 0);
    CALLSLOT_FEED_KEY is the key of /api/bookings.ics unless notify.feed_key is set.
    """
    from generator.config.settings import load_settings
    from generator.errors import ConfigError
    from generator.signing import load_secret
    from generator.store import open_store

    env = os.environ if env is None else env
    if clock is None:
        clock = clock_from_env(env)
        if clock is not system_clock:
            log.warning("the handler's clock is pinned to %s by CALLSLOT_NOW", clock().isoformat())
    if settings is None:
        settings = load_settings(env.get("CALLSLOT_CONFIG") or None, env=env)
    if secret is None:
        if not env.get("CALLSLOT_SECRET"):
            # Never fall back to a development key from .callslot/ here: it would refuse
            # every booking from a page built with the real key as forged, silently.
            raise ConfigError(
                "is not set; export the key the page is built with (the same value as "
                "for `callslot build`); only `callslot serve --dev` uses a development key",
                field="CALLSLOT_SECRET",
            )
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
    if feed_key is not None:
        from generator.signing import MIN_KEY_BITS, key_bits

        if key_bits(feed_key) < MIN_KEY_BITS:
            # A short key in a URL is found by guessing; serving nothing is safer.
            log.error(
                "the bookings feed is off: its key (notify.feed_key or CALLSLOT_FEED_KEY) "
                "is under %d bits; make one with python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'",
                MIN_KEY_BITS,
            )
            feed_key = None
    text = _ThemeText(settings)
    # The address check compiles large patterns on import (a few hundred ms): done beside
    # start-up rather than inside the first booking's answer, and not at module import.
    threading.Thread(target=_warm_email_check, name="callslot-warm-up", daemon=True).start()
    mode = (notify_mode or env.get("CALLSLOT_NOTIFY") or "background").strip().lower()
    if mode not in ("background", "inline"):
        raise ConfigError('must be "background" or "inline" (AWS Lambda)', field="CALLSLOT_NOTIFY")

    def send_inline(booking_id: str, now: datetime) -> None:
        from generator.notify.outbox import IMMEDIATE_BUDGET, send_now

        started = getattr(_request, "started", None)
        spent = 0.0 if started is None else time.monotonic() - started
        budget = max(0.0, min(IMMEDIATE_BUDGET, REQUEST_SECONDS - spent))
        try:
            send_now(settings, store, booking_id, now=now, secret=secret, budget=budget)
        except Exception:  # send_now never raises by contract; a bug must not undo a booking
            log.exception("notifications for %s stay queued", booking_id)

    def send_later(booking_id: str, now: datetime) -> None:
        from generator.notify.outbox import send_now

        send_now(settings, store, booking_id, now=now, secret=secret)

    after_commit: Callable[[str, datetime], None]
    if mode == "inline":
        after_commit = send_inline
    else:
        from generator.notify.worker import BackgroundSender

        after_commit = BackgroundSender(send_later)

    def notify_channels(event: str) -> list[str]:
        from generator.notify.outbox import channels_for

        return channels_for(settings, event)

    def reminders(start: datetime, now: datetime) -> list[tuple[str, datetime]]:
        from generator.notify.outbox import reminders_for

        return reminders_for(settings, start, now)

    from generator.web.offered import OfferedSlots

    ctx = Context(
        settings=settings,
        store=store,
        secret=secret,
        translate=text.translate,
        rate_limit=rate,
        feed_rate_limit=None if rate is None else FEED_RATE_LIMIT,
        feed_key=feed_key,
        calendar_busy=_CalendarCheck(settings)
        if settings.booking.recheck_calendars and settings.calendars
        else None,
        after_commit=after_commit,
        notify_channels=notify_channels,
        reminders=reminders,
        offered_slots=OfferedSlots(settings, secret, env),
    )
    return BookingApp(ctx, clock=clock, trusted_proxies=proxies, render=text.render)


def _warm_email_check() -> None:
    import email_validator  # noqa: F401


class _LazyApp:
    """``generator.handler:app`` for WSGI servers: built on the first request, so that
    importing the module stays fast and a bad configuration is reported, not crashed on."""

    def __init__(self, notify_mode: str | None = None) -> None:
        self._app: BookingApp | None = None
        self._lock = threading.Lock()
        self.notify_mode = notify_mode

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    try:
                        self._app = create_app(notify_mode=self.notify_mode)
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
